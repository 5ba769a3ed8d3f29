"""A token endpoint cannot hold a web thread or fill memory: its answer is read within
AUTH_TIMEOUT_S in all and at most TOKEN_MAX_BYTES (a hostile, allowlisted issuer's token
endpoint on a real socket on 127.0.0.1). Attack inputs: drip, huge, huge Content-Length,
gzip bomb, each for the code exchange and the refresh."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from smartapp.config import Tenant
from smartapp.launch import tokens
from smartapp.launch.errors import RelaunchRequired, TokenError
from tests.support.hostile_fhir import HostileFhir

BOUND_S = 1.5


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileFhir]:
    monkeypatch.setattr(tokens, "AUTH_TIMEOUT_S", BOUND_S)
    with HostileFhir() as server:
        server.drip_interval_s = 0.3
        server.huge_bytes = 64 * 1024 * 1024
        yield server


TENANT = Tenant(iss="http://127.0.0.1/fhir", client_id="app", client_secret="s3cret")


def _exchange(hostile: HostileFhir) -> None:
    tokens.exchange_code(
        TENANT,
        None,
        token_endpoint=f"{hostile.base}/token",
        code="c",
        code_verifier="v" * 43,
        redirect_uri="http://127.0.0.1/callback/x",
    )


@pytest.mark.parametrize("mode", ["drip", "huge", "huge_declared", "gzip_bomb"])
def test_a_hostile_token_answer_ends_the_exchange_within_its_bound(
    hostile: HostileFhir, mode: str
) -> None:
    hostile.mode = mode
    started = time.monotonic()
    with pytest.raises(TokenError, match="could not be reached"):
        _exchange(hostile)
    assert time.monotonic() - started < BOUND_S + 3  # never the drip's 60 s
    assert hostile.requests == ["POST /fhir/token"]


@pytest.mark.parametrize("mode", ["drip", "huge"])
def test_a_hostile_refresh_answer_asks_for_a_relaunch_within_its_bound(
    hostile: HostileFhir, mode: str
) -> None:
    hostile.mode = mode
    record = {"refresh_token": "r", "token_endpoint": f"{hostile.base}/token"}
    started = time.monotonic()
    with pytest.raises((RelaunchRequired, TokenError)):
        tokens.refresh(TENANT, None, record)
    assert time.monotonic() - started < BOUND_S + 3


def test_an_ordinary_token_answer_still_reads(hostile: HostileFhir) -> None:
    """The bound changes nothing for a normal answer (here a Bundle: no access token)."""
    hostile.mode = "ok"
    with pytest.raises(TokenError, match="no access token"):
        _exchange(hostile)
