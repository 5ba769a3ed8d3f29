"""Opening the store from the settings, as `smartapp serve` and the CLI do.

db = open_database(config)        # connected, schema checked (StoreError says what to run)
store = session_store(config, db)  # DatabaseSessionStore with the token cipher
"""

from __future__ import annotations

from smartapp.config import AppConfig, ConfigError
from smartapp.store.cipher import TokenCipher, derived_key
from smartapp.store.database import Database
from smartapp.store.migrate import prepare
from smartapp.store.sessions import DatabaseSessionStore


def open_database(config: AppConfig, *, check_schema: bool = True) -> Database:
    """The app's database (in memory when `config.database_url` is None), ready to use.

    Raises StoreError (one sentence) when it cannot be reached or its schema is behind."""
    db = Database(config.database_url)
    if check_schema:
        try:
            prepare(db)
        except BaseException:
            db.close()
            raise
    return db


def token_cipher(config: AppConfig) -> TokenCipher:
    """SMARTAPP_TOKEN_KEY's keys, else one derived from SMARTAPP_SECRET_KEY."""
    if config.token_keys:
        return TokenCipher(config.token_keys)
    if not config.secret_key:
        raise ConfigError("SMARTAPP_TOKEN_KEY: needed to encrypt sessions (or SMARTAPP_SECRET_KEY)")
    return TokenCipher([derived_key(config.secret_key)])


def session_store(config: AppConfig, db: Database) -> DatabaseSessionStore:
    return DatabaseSessionStore(db, token_cipher(config))
