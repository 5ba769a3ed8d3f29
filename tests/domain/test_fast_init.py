"""`fast_init` builds the same frozen records as the dataclass's own `__init__`."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

import domain.findings
import domain.records
from domain.fast_init import fast_init
from domain.records import (
    ClinicalDate,
    ClinicalDateKind,
    DataQuality,
    Dose,
    DoseKind,
    PatientInfo,
    PatientRecord,
    SourceRef,
)


def _record_class() -> Any:
    """A fresh frozen dataclass with every kind of field (the same each call)."""

    @dataclass(frozen=True)
    class Record:
        name: str
        value: float | None
        tags: tuple[str, ...] = ()
        extra: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    return Record


Plain = _record_class()
Fast = fast_init(_record_class())

CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    (("a", 1.0), {}),
    (("a",), {"value": None, "tags": ("x",)}),
    ((), {"name": "b", "value": 2.5, "extra": {"k": 1}}),
    (("c", 0.0, ("y", "z"), {"n": 2}), {}),
]


def _fields(item: object) -> dict[str, Any]:
    return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_the_same_record_as_the_dataclass_init(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    plain, fast = Plain(*args, **kwargs), Fast(*args, **kwargs)
    assert _fields(fast) == _fields(plain)
    assert repr(fast) == repr(plain)
    assert hash(fast) == hash(Fast(*args, **kwargs)) and fast == Fast(*args, **kwargs)
    assert hash(fast) == hash(plain)
    changed = dataclasses.replace(fast, value=9.0)
    assert type(changed) is Fast and changed.value == 9.0 and changed.name == fast.name
    assert copy.deepcopy(fast) == fast
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.name = "changed"  # type: ignore[misc]


def test_a_default_factory_gives_each_record_its_own_value() -> None:
    first, second = Fast("a", 1.0), Fast("b", 2.0)
    assert first.extra == {} and first.extra is not second.extra


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {"name": "a"}), (("a", 1.0), {"colour": "red"}), (("a", 1.0, (), {}, "x"), {})],
)
def test_the_same_type_error_for_a_wrong_call(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(TypeError):
        Plain(*args, **kwargs)
    with pytest.raises(TypeError):
        Fast(*args, **kwargs)


def test_domain_records_pickle_and_compare_as_before() -> None:
    when = ClinicalDate(date(2024, 5, 1), date(2024, 5, 31), "2024-05", ClinicalDateKind.MONTH)
    dose = Dose(when, 20.0, SourceRef("MedicationAdministration/1", "Kesimpta", "code"))
    assert pickle.loads(pickle.dumps(dose)) == dose
    assert dose.kind is DoseKind.ADMINISTRATION  # the default
    assert PatientRecord(PatientInfo("1", "A", None, None)).data == DataQuality()


@pytest.mark.parametrize("module", [domain.records, domain.findings])
def test_every_domain_dataclass_has_the_fast_init(module: Any) -> None:
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and dataclasses.is_dataclass(value)
        and value.__module__ == module.__name__
    ]
    assert classes
    for cls in classes:
        assert "_set" in cls.__init__.__code__.co_names, cls.__name__


def test_refused_where_it_would_differ() -> None:
    @dataclass(frozen=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            raise AssertionError

    @dataclass
    class Mutable:
        value: int

    @dataclass(frozen=True)
    class Hidden:
        value: int
        derived: int = field(init=False, default=0)

    @dataclass(frozen=True, kw_only=True)
    class KeywordOnly:
        value: int

    for cls in (Checked, Mutable, Hidden, KeywordOnly):
        with pytest.raises(TypeError):
            fast_init(cls)
