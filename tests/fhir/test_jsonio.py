"""The fast JSON decoder gives what the standard library gives, for every input we accept."""

from __future__ import annotations

import gc
import json
import math
import threading
from datetime import date

import pytest

from smartapp.demo.generator import generate_cohort_resources
from smartapp.fhir import jsonio


def test_the_generated_cohort_decodes_exactly_as_before() -> None:
    for patient in generate_cohort_resources(40, date(2026, 11, 24), seed=11):
        page = json.dumps({"resourceType": "Bundle", "entry": [{"resource": r} for r in patient]})
        assert jsonio.loads(page.encode()) == json.loads(page)
        assert jsonio.loads(page) == json.loads(page)


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": 1, "a": 2}',  # the last duplicate wins, as before
        b"\xef\xbb\xbf" + b'{"resourceType": "Patient"}',  # byte-order mark
        b'{"s": "\\ud800"}',  # a lone surrogate escape
        b'{"n": NaN, "i": Infinity}',
        b'{"f": 1e400}',
        b'{"name": "Zo\xc3\xab \\u00e9", "x": [0.1, -0.0, 1.5e-7]}',
    ],
)
def test_what_orjson_refuses_is_decoded_as_the_standard_library_does(text: bytes) -> None:
    expected = json.loads(text)
    found = jsonio.loads(text)
    assert json.dumps(found) == json.dumps(expected)
    if "n" in expected:
        assert math.isnan(found["n"])


@pytest.mark.parametrize("text", [b"", b"{", b"not json", b"\xff\xfe{}", b'{"a": 1,}'])
def test_what_is_not_json_is_a_value_error(text: bytes) -> None:
    with pytest.raises(ValueError):
        jsonio.loads(text)


def test_dumps_text_round_trips_and_falls_back_for_what_orjson_will_not_write() -> None:
    value = {"name": "Zoë", "n": [1, 2.5, None, True], "s": "\u00e9"}
    assert json.loads(jsonio.dumps_text(value)) == value
    assert "Zoë" in jsonio.dumps_text(value)  # non-ASCII kept
    odd = {"big": 2**70, "nan": float("nan")}
    assert jsonio.dumps_text(odd) == json.dumps(odd, separators=(",", ":"), ensure_ascii=False)
    with pytest.raises(TypeError):
        jsonio.dumps_text({"when": object()})


def test_a_large_document_is_decoded_with_the_collector_paused_and_restored() -> None:
    page = json.dumps({"entry": [{"resource": {"id": str(i), "n": [i]}} for i in range(2000)]})
    seen: list[bool] = []
    real = jsonio._loads

    def spy(data: bytes | str) -> object:
        seen.append(gc.isenabled())
        return real(data)

    assert gc.isenabled()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsonio, "_loads", spy)
        assert jsonio.loads(page.encode()) == json.loads(page)
        assert jsonio.loads(b'{"small": true}') == {"small": True}
        with pytest.raises(ValueError):
            jsonio.loads(page.encode()[:-1])  # a truncated page: the error, collector back on
    assert seen == [False, True, False]
    assert gc.isenabled()


def test_overlapping_pauses_switch_the_collector_on_once_and_only_if_it_was_on() -> None:
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with jsonio.collector_paused():
            inside.set()
            release.wait(10)

    other = threading.Thread(target=hold)
    other.start()
    assert inside.wait(10)
    with jsonio.collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread still decodes
    release.set()
    other.join(10)
    assert gc.isenabled()
    gc.disable()
    try:
        with jsonio.collector_paused():
            pass
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()
