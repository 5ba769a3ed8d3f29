"""The one FHIR-access seam for a refused token: the client renews it once and resends.

Views never handle a 401: the client is built with `reauthorize` where the session is
known (`smartapp.launch.context.fhir_client_for`, the worklist's Backend Services client).
"""

from __future__ import annotations

import pytest
import responses
from fhir_fakes import BASE, TOKEN, resource

from smartapp.fhir import FhirClient, TokenExpired

URL = f"{BASE}/Patient/p1"


class Renewer:
    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.tokens.pop(0)


def _auth(http: responses.RequestsMock) -> list[str | None]:
    return [call.request.headers.get("Authorization") for call in http.calls]


def test_a_refused_token_is_renewed_once_and_the_request_sent_again(http) -> None:
    http.add(responses.GET, URL, status=401)
    http.add(responses.GET, URL, json=resource("Patient", "p1"))
    renew = Renewer("fresh")
    with FhirClient(BASE, token=TOKEN, reauthorize=renew) as client:
        assert client.read("Patient/p1")["id"] == "p1"
        assert client.read("Patient/p1")["id"] == "p1"  # the fresh token is kept
    assert renew.calls == 1
    assert _auth(http) == [f"Bearer {TOKEN}", "Bearer fresh", "Bearer fresh"]


def test_refused_again_is_token_expired_after_one_renewal(http) -> None:
    http.add(responses.GET, URL, status=401)
    renew = Renewer("fresh", "never used")
    with FhirClient(BASE, token=TOKEN, reauthorize=renew) as client:
        with pytest.raises(TokenExpired):
            client.read("Patient/p1")
    assert renew.calls == 1
    assert _auth(http) == [f"Bearer {TOKEN}", "Bearer fresh"]


def test_without_a_renewer_a_401_is_token_expired_at_once(http) -> None:
    http.add(responses.GET, URL, status=401)
    with FhirClient(BASE, token=TOKEN) as client:
        with pytest.raises(TokenExpired):
            client.read("Patient/p1")
    assert len(http.calls) == 1


def test_no_token_sent_means_nothing_to_renew(http) -> None:
    http.add(responses.GET, URL, status=401)
    renew = Renewer("fresh")
    with FhirClient(BASE, reauthorize=renew) as client:
        with pytest.raises(TokenExpired):
            client.read("Patient/p1")
    assert renew.calls == 0


def test_a_renewer_that_cannot_renew_stops_the_request(http) -> None:
    class Relaunch(Exception):
        pass

    def refuse() -> str:
        raise Relaunch

    http.add(responses.GET, URL, status=401)
    with FhirClient(BASE, token=TOKEN, reauthorize=refuse) as client:
        with pytest.raises(Relaunch):
            client.read("Patient/p1")
    assert len(http.calls) == 1
