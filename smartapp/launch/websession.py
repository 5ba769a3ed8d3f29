"""Flask sessions kept in the server-side store; the cookie holds only a signed session id.

`flask.session` still works as a dict (CSRF token, small UI state), but its contents are
saved in the store under the `"session"` key, never in the cookie. The cookie value is
`<session id>.<HMAC signature>` (itsdangerous, keyed by SMARTAPP_SECRET_KEY), so a guessed
or tampered id is ignored.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Flask, Request, Response, session
from flask.sessions import SessionInterface, SessionMixin
from itsdangerous import BadSignature, Signer
from werkzeug.datastructures import CallbackDict

from smartapp.launch.session_store import SessionStore, SessionStoreUnavailable

_FLASK_KEY = "session"
#: Where the session's CSRF token lives in Flask's session dict (see smartapp.web.security).
CSRF_SESSION_KEY = "_csrf"


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """Flask's session dict plus the opaque id it is stored under."""

    def __init__(self, initial: dict[str, Any] | None = None, *, sid: str | None = None):
        def on_update(_: CallbackDict[str, Any]) -> None:
            self.modified = True
            self.accessed = True

        super().__init__(initial or {}, on_update)
        self.sid = sid
        self.modified = False
        self.accessed = False
        #: The cookie must be (re)sent: new or rotated id.
        self.send_cookie = False
        #: The session ended: the cookie is deleted.
        self.ended = False
        #: Why the store could not be read (the request gets a "database unavailable" page).
        self.unavailable: SessionStoreUnavailable | None = None


class ServerSessionInterface(SessionInterface):
    def __init__(self, store: SessionStore) -> None:
        self.store = store

    def _signer(self, app: Flask) -> Signer:
        return Signer(
            str(app.secret_key),
            salt="smartapp-session-id",
            key_derivation="hmac",
            digest_method=hashlib.sha256,
        )

    def _cookie_options(self, app: Flask) -> dict[str, Any]:
        """The cookie's attributes, the same when it is set and when it is deleted (a browser
        deletes only the cookie with the same path and domain)."""
        return {
            "path": self.get_cookie_path(app),
            "domain": self.get_cookie_domain(app),
            "secure": self.get_cookie_secure(app),
            "httponly": True,
            "samesite": self.get_cookie_samesite(app),
            "partitioned": self.get_cookie_partitioned(app),
        }

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        cookie = request.cookies.get(self.get_cookie_name(app))
        if cookie:
            try:
                sid = self._signer(app).unsign(cookie).decode("ascii")
            except (BadSignature, UnicodeDecodeError):
                sid = None
            try:
                if sid and self.store.exists(sid):
                    return ServerSession(self.store.get(sid, _FLASK_KEY), sid=sid)
            except SessionStoreUnavailable as err:
                # Raised here, Flask would show its bare 500 page: the view raises it instead.
                failed = ServerSession()
                failed.unavailable = err
                return failed
        return ServerSession()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, ServerSession):  # pragma: no cover - null session
            return
        if session.unavailable is not None:
            return  # nothing was read, so nothing may be written (the cookie stays)
        name = self.get_cookie_name(app)
        if session.accessed:
            response.vary.add("Cookie")
        if session.ended:
            response.delete_cookie(name, **self._cookie_options(app))
            return
        if session.sid is None:
            if not session.modified or not session:
                return
            session.sid = self.store.create()
            session.send_cookie = True
        if session.modified:
            self.store.set(session.sid, _FLASK_KEY, dict(session))
        if session.send_cookie:
            response.set_cookie(
                name,
                self._signer(app).sign(session.sid).decode("ascii"),
                **self._cookie_options(app),
            )


def _current() -> ServerSession:
    current = session._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(current, ServerSession):
        raise RuntimeError("the server-side session interface is not installed")
    return current


def raise_if_unavailable() -> None:
    """Raise the store's error when this request's session could not be read."""
    current = session._get_current_object()  # type: ignore[attr-defined]
    if isinstance(current, ServerSession) and current.unavailable is not None:
        raise current.unavailable


def _store() -> SessionStore:
    from smartapp.launch.state import launch_state

    return launch_state().store


def session_id() -> str | None:
    """The current request's session id, or None when it has no session."""
    return _current().sid


def ensure_session_id() -> str:
    """The session id, starting a session (and sending its cookie) when there is none."""
    current = _current()
    current.accessed = True
    if current.sid is None:
        current.sid = _store().create()
        current.send_cookie = True
        current.modified = True
    return current.sid


def rotate_session_id() -> str:
    """Move the session to a fresh id and a fresh CSRF token (after sign-in: no session
    fixation, and no form token that an earlier page of the session could have leaked)."""
    current = _current()
    current.accessed = True
    current.pop(CSRF_SESSION_KEY, None)
    new_sid = _store().rotate(current.sid) if current.sid else None
    current.sid = new_sid or _store().create()
    current.send_cookie = True
    current.modified = True
    return current.sid


def end_session() -> None:
    """Forget the session server-side and delete the cookie."""
    current = _current()
    if current.sid:
        _store().delete(current.sid)
    current.clear()
    current.sid = None
    current.ended = True
