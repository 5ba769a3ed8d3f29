"""What a browser says about where a navigation came from (Fetch Metadata), for tests that
drive the app with a test client or `requests`, which send none of it."""

from __future__ import annotations

#: An address the user typed or bookmarked: `/open` and `/worklist/open` go straight on.
TYPED = {"Sec-Fetch-Site": "none"}
