"""`python -m smartapp.cli …`."""

import sys

from smartapp.cli.main import main

sys.exit(main())
