"""CDS client authentication: every refused JWT is a 401 and no FHIR request is made."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import OctKey

from smartapp.cds.auth import Authenticator, CdsAuthError, KeySets
from smartapp.cds.clients import load_cds_clients, parse_cds_clients
from smartapp.cds.services import SERVICES
from smartapp.config import ConfigError
from smartapp.launch.errors import DiscoveryError
from smartapp.launch.session_store import MemorySessionStore
from smartapp.store import Database
from smartapp.store.cds import DatabaseReplayCache
from smartapp.store.migrate import upgrade
from smartapp.web import create_app
from tests.cds.cds_fakes import (
    CDS_ISS,
    KID,
    cds_config,
    cds_key,
    clients_document,
    ec_key,
    hook_body,
    public_jwks,
    service_url,
    sign,
    stranger_key,
    write_clients,
)
from tests.launch.launch_fakes import ISS, make_config

SERVICE = "ofatumumab-patient-view"
SERVICE_IDS = [service.id for service in SERVICES]


def post(client: FlaskClient, token: str | None, service: str = SERVICE) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    # fhirServer + token and no prefetch: an accepted call would read the FHIR server.
    body = hook_body(service, "p1", fhir_server=ISS, token="ehr-token")
    return client.post(f"/cds-services/{service}", json=body, headers=headers)


def assert_refused(reply: Any, rsps: responses.RequestsMock, words: str) -> None:
    assert reply.status_code == 401, reply.get_data(as_text=True)
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert words in reply.get_json()["message"]
    assert len(rsps.calls) == 0  # no FHIR request, no key fetch


def test_no_authorization_header(client: FlaskClient, rsps: responses.RequestsMock) -> None:
    assert_refused(post(client, None), rsps, "no Authorization header")


def test_not_a_jwt(client: FlaskClient, rsps: responses.RequestsMock) -> None:
    assert_refused(post(client, "not-a-jwt"), rsps, "not a signed JWT")


def test_unknown_issuer(client: FlaskClient, rsps: responses.RequestsMock) -> None:
    token = sign(service_url(SERVICE), iss="https://evil.example.org")
    assert_refused(post(client, token), rsps, "not a registered CDS client")


def test_forged_signature(client: FlaskClient, rsps: responses.RequestsMock) -> None:
    token = sign(service_url(SERVICE), key=stranger_key())
    assert_refused(post(client, token), rsps, "signature could not be verified")


def test_alg_none_is_refused(client: FlaskClient, rsps: responses.RequestsMock) -> None:
    good = sign(service_url(SERVICE))
    header = {"alg": "none", "typ": "JWT", "kid": KID}
    import base64

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    payload = good.split(".")[1]
    token = f"{b64(header)}.{payload}."
    assert_refused(post(client, token), rsps, "alg must be one of")


def test_symmetric_alg_is_refused(client: FlaskClient, rsps: responses.RequestsMock) -> None:
    secret = OctKey.import_key("a-shared-secret-that-is-long-enough-0123456789")
    claims = {"iss": CDS_ISS, "aud": service_url(SERVICE), "exp": int(time.time()) + 60}
    claims |= {"iat": int(time.time()), "jti": "hs"}
    token = jwt.encode({"alg": "HS256", "typ": "JWT", "kid": KID}, claims, secret)
    assert_refused(post(client, token), rsps, "alg must be one of")


def test_wrong_audience(client: FlaskClient, rsps: responses.RequestsMock) -> None:
    token = sign(service_url("ofatumumab-order-sign"))
    assert_refused(post(client, token), rsps, "aud is not the URL of this service")


def test_audience_as_a_list_is_accepted(client: FlaskClient) -> None:
    token = sign([service_url(SERVICE)])
    body = hook_body(SERVICE, "p1")  # no data source: a card says the checks could not run
    reply = client.post(
        f"/cds-services/{SERVICE}", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert reply.status_code == 200


def test_expired(client: FlaskClient, rsps: responses.RequestsMock) -> None:
    token = sign(service_url(SERVICE), now=time.time() - 600, lifetime=120)
    assert_refused(post(client, token), rsps, "expired")


def test_exp_too_far_ahead(client: FlaskClient, rsps: responses.RequestsMock) -> None:
    token = sign(service_url(SERVICE), lifetime=3600)
    assert_refused(post(client, token), rsps, "more than 300 s ahead")


@pytest.mark.parametrize("claim", ["exp", "iat", "jti"])
def test_required_claims(client: FlaskClient, rsps: responses.RequestsMock, claim: str) -> None:
    token = sign(service_url(SERVICE), drop=[claim])
    assert_refused(post(client, token), rsps, f"no {'numeric ' if claim != 'jti' else ''}{claim}")


def test_iat_in_the_future(client: FlaskClient, rsps: responses.RequestsMock) -> None:
    token = sign(service_url(SERVICE), iat=int(time.time()) + 600, lifetime=60)
    assert_refused(post(client, token), rsps, "iat is in the future")


def test_replayed_jti_is_refused(client: FlaskClient, rsps: responses.RequestsMock) -> None:
    token = sign(service_url(SERVICE), jti="once-only")
    body = hook_body(SERVICE, "p1")
    first = client.post(
        f"/cds-services/{SERVICE}", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert first.status_code == 200
    assert_refused(post(client, token), rsps, "used before")
    # A new token with the same jti is a replay too.
    again = sign(service_url(SERVICE), jti="once-only")
    assert_refused(post(client, again), rsps, "used before")


def test_missing_typ_or_kid(client: FlaskClient, rsps: responses.RequestsMock) -> None:
    token = sign(service_url(SERVICE), header={"typ": "at+jwt"})
    assert_refused(post(client, token), rsps, "typ JWT")
    token = jwt.encode(
        {"alg": "RS384", "typ": "JWT"},
        {"iss": CDS_ISS, "aud": service_url(SERVICE), "exp": int(time.time()) + 60},
        cds_key(),
        algorithms=["RS384"],
    )
    assert_refused(post(client, token), rsps, "no kid")


def test_token_jku_must_be_the_registered_one(
    client: FlaskClient, rsps: responses.RequestsMock
) -> None:
    token = sign(service_url(SERVICE), header={"jku": "https://evil.example.org/jwks"})
    assert_refused(post(client, token), rsps, "not the key set URL registered")


def test_client_limited_to_some_services(tmp_path: Path, rsps: responses.RequestsMock) -> None:
    path = write_clients(tmp_path, clients_document(services=["ofatumumab-order-sign"]))
    app = create_app(cds_config(make_config(), path), store=MemorySessionStore())
    assert_refused(post(app.test_client(), sign(service_url(SERVICE))), rsps, "may not call")


def test_no_clients_configured_refuses_every_call(rsps: responses.RequestsMock) -> None:
    app = create_app(make_config(), store=MemorySessionStore())
    assert_refused(post(app.test_client(), sign(service_url(SERVICE))), rsps, "not a registered")


def test_es384_key_is_accepted(client: FlaskClient) -> None:
    token = sign(service_url(SERVICE), key=ec_key(), alg="ES384")
    reply = client.post(
        f"/cds-services/{SERVICE}",
        json=hook_body(SERVICE, "p1"),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200


def test_discovery_is_open_and_lists_three_services(client: FlaskClient) -> None:
    reply = client.get("/cds-services")
    assert reply.status_code == 200
    services = reply.get_json()["services"]
    assert [(s["id"], s["hook"]) for s in services] == [
        ("ofatumumab-patient-view", "patient-view"),
        ("ofatumumab-order-select", "order-select"),
        ("ofatumumab-order-sign", "order-sign"),
    ]
    assert all(s["description"] and s["prefetch"] for s in services)


def test_cors_preflight_and_responses(client: FlaskClient) -> None:
    preflight = client.options(
        f"/cds-services/{SERVICE}",
        headers={
            "Origin": "https://ehr-ui.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    refused = client.post(f"/cds-services/{SERVICE}", json={}, headers={"Origin": "https://x.org"})
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == "*"  # the client can read why
    assert "Set-Cookie" not in refused.headers


def test_unknown_service_is_a_json_404(client: FlaskClient) -> None:
    reply = client.post("/cds-services/nope", json={}, headers={"Accept": "*/*"})
    assert reply.status_code == 404
    assert reply.get_json()["error"] == "not_found"


# -- the key set at a jku URL ------------------------------------------------------------------


def replay_cache() -> DatabaseReplayCache:
    db = Database(None)  # a private in-memory database
    upgrade(db)
    return DatabaseReplayCache(db)


JKU = "https://ehr.example.org/cds/jwks.json"


def jku_authenticator(clock: list[float]) -> Authenticator:
    clients = parse_cds_clients(
        {"clients": [{"iss": CDS_ISS, "jku": JKU, "services": ["*"]}]}, SERVICE_IDS
    )
    return Authenticator(
        clients,
        replay=replay_cache(),
        key_sets=KeySets(clock=lambda: clock[0]),
        clock=lambda: clock[0],
    )


def test_jku_key_set_is_fetched_once_and_cached(rsps: responses.RequestsMock) -> None:
    rsps.get(JKU, json=public_jwks(cds_key()))
    clock = [time.time()]
    auth = jku_authenticator(clock)
    for _ in range(3):
        token = sign(service_url(SERVICE), header={"jku": JKU}, now=clock[0])
        caller = auth.authenticate(
            f"Bearer {token}", service_id=SERVICE, audiences=[service_url(SERVICE)]
        )
        assert caller.client.iss == CDS_ISS
    assert len(rsps.calls) == 1


def test_jku_refetched_for_a_new_kid_not_more_often_than_allowed(
    rsps: responses.RequestsMock,
) -> None:
    rsps.get(JKU, json=public_jwks(cds_key()))
    clock = [time.time()]
    auth = jku_authenticator(clock)
    auth.authenticate(
        f"Bearer {sign(service_url(SERVICE), now=clock[0])}",
        service_id=SERVICE,
        audiences=[service_url(SERVICE)],
    )
    ec_token = sign(service_url(SERVICE), key=ec_key(), alg="ES384", now=clock[0])
    with pytest.raises(CdsAuthError, match="signature"):
        auth.authenticate(
            f"Bearer {ec_token}", service_id=SERVICE, audiences=[service_url(SERVICE)]
        )
    assert len(rsps.calls) == 1  # a new kid right after a fetch: no second fetch yet
    rsps.replace(responses.GET, JKU, json=public_jwks(cds_key(), ec_key()))
    clock[0] += 60
    ec_token = sign(service_url(SERVICE), key=ec_key(), alg="ES384", now=clock[0])
    auth.authenticate(f"Bearer {ec_token}", service_id=SERVICE, audiences=[service_url(SERVICE)])
    assert len(rsps.calls) == 2


def test_jku_unreachable_is_refused() -> None:
    def down(url: str) -> object:
        raise DiscoveryError("down")

    clients = parse_cds_clients(
        {"clients": [{"iss": CDS_ISS, "jku": JKU, "services": ["*"]}]}, SERVICE_IDS
    )
    auth = Authenticator(clients, replay=replay_cache(), key_sets=KeySets(fetch=down))
    with pytest.raises(CdsAuthError, match="could not be fetched"):
        auth.authenticate(
            f"Bearer {sign(service_url(SERVICE))}",
            service_id=SERVICE,
            audiences=[service_url(SERVICE)],
        )


# -- the clients file --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"clients": [{"services": ["*"], "jku": JKU}]}, "needs an 'iss'"),
        ({"clients": [{"iss": "x", "services": ["*"]}]}, "exactly one of 'jku'"),
        (
            {"clients": [{"iss": "x", "services": ["*"], "jku": "http://ehr.example.org/j"}]},
            "https",
        ),
        (
            {"clients": [{"iss": "x", "services": ["*"], "jwks": {"keys": [{"kty": "nope"}]}}]},
            "JWK",
        ),
        ({"clients": [{"iss": "x", "services": ["nope"], "jku": JKU}]}, "unknown service"),
        ({"clients": [{"iss": "x", "services": [], "jku": JKU}]}, "'services'"),
        ({"clients": [{"iss": "x", "services": ["*"], "jku": JKU, "extra": 1}]}, "unknown key"),
        ({"clients": "x"}, "must hold"),
    ],
)
def test_bad_clients_file_stops_start_up(
    tmp_path: Path, document: dict[str, Any], message: str
) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as err:
        load_cds_clients(str(path), SERVICE_IDS)
    assert str(err.value).startswith("SMARTAPP_CDS_CLIENTS:")


def test_bad_clients_file_stops_the_app(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="SMARTAPP_CDS_CLIENTS"):
        create_app(cds_config(make_config(), str(path)), store=MemorySessionStore())


def test_loopback_http_jku_is_allowed_for_local_sandboxes() -> None:
    clients = parse_cds_clients(
        {"clients": [{"iss": "x", "services": ["*"], "jku": "http://127.0.0.1:9090/cds/jwks"}]},
        SERVICE_IDS,
    )
    assert clients["x"].jku == "http://127.0.0.1:9090/cds/jwks"
