"""authlib's AuthorizationServer wired to the sandbox registry, store and grants.

authlib runs the OAuth protocol; this module adds what SMART puts in a token response
(granted `scope`, `patient`, `need_patient_banner`, `fhirUser`, `id_token`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidScopeError
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask, current_app

from sandbox_ehr.clients import SandboxClient
from sandbox_ehr.config import SandboxUser
from sandbox_ehr.grants import (
    SmartAuthorizationCodeGrant,
    SmartClientAssertion,
    SmartClientCredentialsGrant,
    SmartCodeChallenge,
    SmartRefreshTokenGrant,
)
from sandbox_ehr.scopes import REFRESH_SCOPES, invalid_scopes, split_scope
from sandbox_ehr.tokens import GrantContext, TokenRecord, new_secret

if TYPE_CHECKING:
    from sandbox_ehr.state import SandboxState

#: Where `create_sandbox` keeps the one authorization server (beside the shared state, which
#: does not know it: the server is built from the state).
EXTENSION_KEY = "sandbox_ehr.oauth"


class _IssuerParameter(IssuerParameter):  # type: ignore[misc]
    """RFC 9207: every authorization response names this server (`iss`)."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def get_issuer(self) -> str:
        return self.state.issuer


class SandboxAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, app: Flask, state: SandboxState) -> None:
        super().__init__()
        self.state = state
        self.init_app(app)
        app.extensions[EXTENSION_KEY] = self
        self.register_token_generator("default", self._generate_token)
        self.register_client_auth_method("private_key_jwt", SmartClientAssertion(state))
        self.register_grant(SmartAuthorizationCodeGrant, [SmartCodeChallenge(required=True)])
        self.register_grant(SmartRefreshTokenGrant)
        self.register_grant(SmartClientCredentialsGrant)
        self.register_extension(_IssuerParameter(state))

    def query_client(self, client_id: str) -> SandboxClient | None:
        return self.state.clients.get(client_id)

    def validate_requested_scope(self, scope: str | None) -> None:
        if invalid_scopes(split_scope(scope)):
            raise InvalidScopeError("The request has a malformed or unknown scope.")

    def _generate_token(
        self,
        grant_type: str,
        client: SandboxClient,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        runtime = self.state.runtime
        if expires_in is None:
            expires_in = (
                runtime.backend_token_lifetime
                if grant_type == "client_credentials"
                else runtime.access_token_lifetime
            )
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": new_secret(),
            "expires_in": expires_in,
            "scope": scope or "",  # SMART: always sent, since it may differ from the request
        }
        wants_refresh = REFRESH_SCOPES.intersection(split_scope(scope))
        if include_refresh_token and grant_type != "client_credentials" and wants_refresh:
            token["refresh_token"] = new_secret()
        return token

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """Remember the token and add the SMART launch context to the response dict."""
        st = self.state
        now = st.now()
        nonce = None
        grant_type = request.payload.grant_type
        if grant_type == "authorization_code":
            context: GrantContext = request.authorization_code.context
            nonce = request.authorization_code.nonce
        elif grant_type == "refresh_token":
            context = request.refresh_token.context
        else:
            context = GrantContext(
                grant_id=new_secret(12),
                client_id=request.client.client_id,
                scope=token["scope"],
                user_id=None,
                patient=None,
                need_patient_banner=False,
            )
        scopes = split_scope(token["scope"])
        refresh_expires_at = None
        if "refresh_token" in token:
            runtime = st.runtime
            lifetime = (
                runtime.offline_refresh_lifetime
                if "offline_access" in scopes
                else runtime.online_refresh_lifetime
            )
            refresh_expires_at = now + lifetime
        st.store.save_token(
            TokenRecord(
                access_token=token["access_token"],
                scope=token["scope"],
                context=context,
                issued_at=now,
                expires_at=now + token["expires_in"],
                refresh_token=token.get("refresh_token"),
                refresh_expires_at=refresh_expires_at,
            )
        )
        user = st.config.user(context.user_id)
        if context.patient:
            token["patient"] = context.patient
        if user is None:
            return
        client = st.clients.get(context.client_id)
        if client is not None and client.registration.is_login:
            token["id_token"] = self._sign_in_id_token(user, context.client_id, scopes, nonce)
            return
        token["need_patient_banner"] = context.need_patient_banner
        if "fhirUser" in scopes:
            token["fhirUser"] = f"{st.fhir_base}/{user.reference}"
        if "openid" in scopes:
            claims: dict[str, Any] = {
                "iss": st.issuer,
                "sub": user.id,
                "aud": context.client_id,
                "iat": int(now),
                "exp": int(now) + st.config.id_token_lifetime,
            }
            if nonce:
                claims["nonce"] = nonce
            if "fhirUser" in scopes:
                claims["fhirUser"] = f"{st.fhir_base}/{user.reference}"
            if "profile" in scopes:
                claims["name"] = user.name
            token["id_token"] = st.signing_key.sign(claims)

    def _sign_in_id_token(
        self, user: SandboxUser, client_id: str, scopes: list[str], nonce: str | None
    ) -> str:
        """The id_token of a plain OpenID Connect sign-in: who, and in which groups (the
        way an organisation's identity provider tells the app who signed in)."""
        now = self.state.now()
        claims: dict[str, Any] = {
            "iss": self.state.issuer,
            "sub": user.id,
            "aud": client_id,
            "iat": int(now),
            "exp": int(now) + self.state.config.id_token_lifetime,
            "groups": list(user.groups),
        }
        if nonce:
            claims["nonce"] = nonce
        if "profile" in scopes:
            claims["name"] = user.name
            claims["preferred_username"] = user.id
        if "email" in scopes:
            claims["email"] = user.email
            claims["email_verified"] = True
        return self.state.signing_key.sign(claims)


def oauth() -> SandboxAuthorizationServer:
    """The authorization server of the sandbox app handling the current request."""
    return cast(SandboxAuthorizationServer, current_app.extensions[EXTENSION_KEY])
