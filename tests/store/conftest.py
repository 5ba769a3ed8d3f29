"""The store's tests run against SQLite (a file, as deployed) and a real PostgreSQL server
(fixtures `database_url` and `database` in tests/conftest.py)."""
