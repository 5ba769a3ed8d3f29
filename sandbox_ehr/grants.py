"""authlib grants and client authentication, tightened to SMART App Launch 2.x.

- PKCE is mandatory for every client and only S256 is accepted.
- The authorization request must name the sandbox FHIR base as `aud`; `launch` is resolved.
- Codes are single use; refresh tokens rotate; a reused one revokes its whole grant.
- Backend clients use private_key_jwt (RS384/ES384, `kid`, `exp` <= 5 min, unique `jti`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
)
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

from sandbox_ehr.clients import SandboxClient
from sandbox_ehr.config import SandboxUser
from sandbox_ehr.scopes import downgrade, join_scope, parse_resource_scope, split_scope
from sandbox_ehr.tokens import (
    AuthorizationCode,
    GrantContext,
    LaunchContext,
    TokenRecord,
    new_secret,
)

if TYPE_CHECKING:
    from sandbox_ehr.state import SandboxState

#: Endpoint auth methods for grants used by user-facing apps (public, symmetric, asymmetric).
APP_AUTH_METHODS = ["private_key_jwt", "client_secret_basic", "none"]
ASSERTION_ALGORITHMS = ("RS384", "ES384")
MAX_ASSERTION_LIFETIME = 300
CLOCK_SKEW = 10
UNSUPPORTED_CONTEXT_SCOPES = frozenset({"launch/encounter"})


def _state(grant: Any) -> SandboxState:
    return grant.server.state  # type: ignore[no-any-return]


class SmartCodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE for every client, S256 only.

    authlib's CodeChallenge accepts a request without a challenge, enforces the verifier only
    for public clients even with `required=True`, and defaults the method to "plain".
    """

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


@dataclass(frozen=True)
class SmartAuthorization:
    """The SMART reading of a valid authorization request, for the pages and the code."""

    client: SandboxClient
    requested: list[str]
    granted: list[str]
    launch: LaunchContext | None  # only when the `launch` scope is granted
    needs_patient: bool

    @property
    def not_granted(self) -> list[str]:
        return [s for s in self.requested if s not in self.granted]


@dataclass(frozen=True)
class Approval:
    """The resource owner's decision, passed to authlib as the `grant_user`."""

    user: SandboxUser
    patient: str | None
    need_patient_banner: bool


def _same_base(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


class SmartAuthorizationCodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = APP_AUTH_METHODS
    smart: SmartAuthorization

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        try:
            self.smart = self._validate_smart()
        except OAuth2Error as error:
            error.redirect_uri = redirect_uri
            raise
        return redirect_uri

    def _validate_smart(self) -> SmartAuthorization:
        st = _state(self)
        request = self.request
        data = request.payload.data
        aud = data.get("aud")
        sign_in_only = request.client.registration.is_login
        if (aud or not sign_in_only) and not (aud and _same_base(aud, st.fhir_base)):
            raise InvalidRequestError("aud must be the FHIR base URL of this server.")
        if sign_in_only and data.get("launch"):
            raise InvalidRequestError("A sign-in client cannot take part in a launch.")
        launch = None
        if data.get("launch"):
            launch = st.store.get_launch(data["launch"], st.now())
            if launch is None:
                raise InvalidRequestError("Unknown or expired launch.")

        requested = split_scope(request.payload.scope)
        refusal = st.runtime.refuse_scopes
        refused = refusal.refused(requested) if refusal is not None else []
        if refused:
            shown = ", ".join(refused[:3]) + (" …" if len(refused) > 3 else "")
            raise InvalidScopeError(f"Not registered for this app: {shown}")
        granted = split_scope(request.scope)  # what this client may have
        if launch is None:
            granted = [s for s in granted if s != "launch"]
        granted = [s for s in granted if s not in UNSUPPORTED_CONTEXT_SCOPES]
        granted = downgrade(granted, st.runtime.grant_scopes_filter)
        request.scope = join_scope(granted)

        if "launch" not in granted:
            launch = None
        needs_patient = "launch/patient" in granted or any(
            (p := parse_resource_scope(s)) is not None and p.level == "patient" for s in granted
        )
        return SmartAuthorization(
            client=request.client,
            requested=requested,
            granted=granted,
            launch=launch,
            needs_patient=needs_patient,
        )

    def save_authorization_code(self, code: str, request: Any) -> None:
        st = _state(self)
        approval: Approval = request.user
        context = GrantContext(
            grant_id=new_secret(12),
            client_id=request.client.client_id,
            scope=request.scope,
            user_id=approval.user.id,
            patient=approval.patient,
            need_patient_banner=approval.need_patient_banner,
        )
        data = request.payload.data
        st.store.save_code(
            AuthorizationCode(
                code=code,
                redirect_uri=request.payload.redirect_uri,
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                nonce=data.get("nonce"),
                context=context,
                expires_at=st.now() + st.runtime.code_lifetime,
            )
        )

    def query_authorization_code(self, code: str, client: SandboxClient) -> Any:
        st = _state(self)
        return st.store.take_code(code, client.client_id, st.now())

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing to do: `take_code` consumed it already, even if the verifier then fails."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> SandboxUser | None:
        return _state(self).config.user(authorization_code.context.user_id)


class SmartRefreshTokenGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = APP_AUTH_METHODS
    # Rotation; the token generator adds one only when online/offline_access is granted.
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> TokenRecord | None:
        st = _state(self)
        return st.store.refresh_token(refresh_token, st.now())

    def authenticate_user(self, refresh_token: TokenRecord) -> SandboxUser | None:
        return _state(self).config.user(refresh_token.context.user_id)

    def create_token_response(self) -> Any:
        # Claim the old refresh token before issuing, so two racing requests cannot both win.
        if not _state(self).store.claim_refresh(self.request.refresh_token):
            raise InvalidGrantError("The refresh token was already used.")
        return super().create_token_response()

    def revoke_old_credential(self, refresh_token: TokenRecord) -> None:
        """Nothing to do: `create_token_response` claimed it."""


class SmartClientCredentialsGrant(ClientCredentialsGrant):  # type: ignore[misc]
    """SMART Backend Services: private_key_jwt only, `system/` scopes, no refresh token."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt"]

    def create_token_response(self) -> Any:
        st = _state(self)
        requested = split_scope(self.request.payload.scope)
        refusal = st.runtime.refuse_scopes
        refused = refusal.refused(requested) if refusal is not None else []
        if refused:
            raise InvalidScopeError(f"Not registered for this app: {', '.join(refused[:3])}")
        allowed = split_scope(self.client.get_allowed_scope(self.request.payload.scope))
        granted = downgrade(allowed, st.runtime.grant_scopes_filter)
        token = self.generate_token(scope=join_scope(granted), include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class SmartClientAssertion(JWTBearerClientAssertion):  # type: ignore[misc]
    """private_key_jwt as SMART asks (client-confidential-asymmetric.md)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, state: SandboxState) -> None:
        super().__init__(validate_jti=True, leeway=CLOCK_SKEW)
        self.state = state

    def get_audiences(self) -> list[str]:
        return [self.state.token_url]

    def resolve_client_public_key(self, client: SandboxClient) -> _ClientKeys:
        # authlib hands this value to process_assertion_claims; the keys are read there,
        # once the header's kid is known.
        return _ClientKeys(client)

    def process_assertion_claims(self, assertion: str, resolve_key: _ClientKeys) -> dict[str, Any]:
        header = jws.extract_compact(assertion.encode()).headers()
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ASSERTION_ALGORITHMS:
            raise InvalidClientError(description="Assertion alg must be RS384 or ES384.")
        if header.get("typ") != "JWT":
            raise InvalidClientError(description="Assertion typ must be JWT.")
        if not isinstance(kid, str) or not kid:
            raise InvalidClientError(description="Assertion kid is required.")
        key = self._key_for(resolve_key.client, kid, header.get("jku"))
        try:
            token = jwt.decode(assertion, key, algorithms=[alg])
        except JoseError as err:
            raise InvalidClientError(description="Assertion signature is invalid.") from err
        self.verify_claims(token.claims)
        return token.claims

    def _key_for(self, client: SandboxClient, kid: str, jku: Any) -> Key:
        registered_uri = client.registration.jwks_uri
        if jku is not None and jku != registered_uri:
            raise InvalidClientError(description="Assertion jku is not the registered JWKS URL.")
        registry = self.state.clients
        try:
            found = _find_kid(registry.public_keys(client), kid)
            if found is None and registered_uri:  # the client may have rotated its keys
                found = _find_kid(registry.public_keys(client, refresh=True), kid)
        except ValueError as err:
            raise InvalidClientError(description="The client JWKS cannot be read.") from err
        if found is None:
            raise InvalidClientError(description="Assertion kid matches no registered key.")
        return found

    def verify_claims(self, claims: Any) -> None:
        now = self.state.now()
        client_id = claims.get("sub")
        if claims.get("iss") != client_id:
            raise InvalidClientError(description="Assertion iss and sub must be the client_id.")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.state.token_url not in audiences:
            raise InvalidClientError(description="Assertion aud must be the token endpoint URL.")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise InvalidClientError(description="Assertion exp is required.")
        if exp <= now - CLOCK_SKEW:
            raise InvalidClientError(description="Assertion has expired.")
        if exp > now + MAX_ASSERTION_LIFETIME + CLOCK_SKEW:
            raise InvalidClientError(description="Assertion exp is more than 5 minutes ahead.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise InvalidClientError(description="Assertion jti is required.")
        if not self.state.store.remember_jti(client_id, jti, exp + CLOCK_SKEW, now):
            raise InvalidClientError(description="Assertion jti was already used.")


@dataclass(frozen=True)
class _ClientKeys:
    client: SandboxClient


def _find_kid(keys: KeySet, kid: str) -> Key | None:
    return next((k for k in keys.keys if k.kid == kid), None)
