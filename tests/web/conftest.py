from tests.launch.launch_fakes import app, client, config, ehr, rsps, store  # noqa: F401
