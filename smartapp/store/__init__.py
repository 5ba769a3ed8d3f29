"""The app's own database (SQLite by default, PostgreSQL in deployments): docs/store.md.

Modules, one job each:
    database    the engine and transaction helpers; URL rules; errors
    schema      the tables (changed only through a migration in `migrations/`)
    migrate     Alembic: `smartapp db upgrade`, the start-up check
    cipher      encryption at rest of session values (SMARTAPP_TOKEN_KEY)
    leases      named cross-process leases (token refresh, single-flight worklist refresh)
    sessions    the server-side session store shared by every app process
"""

from smartapp.store.database import Database, DatabaseUnavailable, StoreError

__all__ = ["Database", "DatabaseUnavailable", "StoreError"]
