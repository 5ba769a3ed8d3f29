"""authlib's AuthorizationServer wired to the sandbox registry, store and grants.

authlib runs the OAuth protocol; this module adds what SMART puts in a token response
(granted `scope`, `patient`, `need_patient_banner`, `fhirUser`, `id_token`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidScopeError
from flask import Flask

from sandbox_ehr.clients import SandboxClient
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


class SandboxAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, app: Flask, state: SandboxState) -> None:
        super().__init__()
        self.state = state
        self.init_app(app)
        self.register_token_generator("default", self._generate_token)
        self.register_client_auth_method("private_key_jwt", SmartClientAssertion(state))
        self.register_grant(SmartAuthorizationCodeGrant, [SmartCodeChallenge(required=True)])
        self.register_grant(SmartRefreshTokenGrant)
        self.register_grant(SmartClientCredentialsGrant)

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
