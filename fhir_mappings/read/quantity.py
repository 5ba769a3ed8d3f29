"""FHIR Quantity values: the number, its comparator and the unit to convert with (SPEC §2).

The unit used for conversion is `Quantity.code` when `Quantity.system` is UCUM, else the
printed `unit` (then `code` when there is no unit). A comparator (`<`, `>`…) keeps the value
and is shown in the raw text; the rules compare the value, which is the bound recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import NamedTuple

from fhir_mappings.errors import Malformed
from fhir_mappings.systems import SYSTEMS, system_key
from fhir_mappings.ucum import convert

_COMPARATORS = frozenset({"<", "<=", ">=", ">", "ad"})
_UCUM = SYSTEMS["ucum"].uri


class QuantityValue(NamedTuple):
    value: float
    comparator: str
    #: The unit to convert with (UCUM code, else the printed unit); None when there is none.
    unit: str | None
    #: The unit as printed (for the raw text).
    printed: str

    def raw(self) -> str:
        text = f"{self.comparator}{self.value:g}"
        return f"{text} {self.printed}" if self.printed else f"{text} (no unit)"

    def to(self, target: str) -> float | None:
        return convert(self.value, self.unit, target)


#: `QuantityValue(...)` without its Python-level `__new__` (what `namedtuple._make` does,
#: less the length check: the tuple here always has the four fields): this runs for every
#: lab value, reference range and dose (SPEC §5 throughput).
_new_quantity: Callable[[type[QuantityValue], tuple[float, str, str | None, str]], QuantityValue]
_new_quantity = tuple.__new__


def read_quantity(element: object, where: str) -> QuantityValue | None:
    """A Quantity element, or None when absent or without a value; `Malformed` on bad types."""
    if element is None:
        return None
    if type(element) is not dict:
        raise Malformed(f"{where} is not a Quantity")
    value = element.get("value")
    comparator = element.get("comparator") or ""
    unit = element.get("unit")
    code = element.get("code")
    system = element.get("system")
    # Type checks inline: this runs for every lab value and dose (SPEC §5 throughput).
    if value is not None and type(value) is not int and type(value) is not float:
        raise Malformed(f"{where}.value is not a number")
    # Each test asks "a string?" first: the usual answer, and then the only test.
    if (
        type(comparator) is not str
        or (type(unit) is not str and unit is not None)
        or (type(code) is not str and code is not None)
        or (type(system) is not str and system is not None)
    ):
        _not_a_string(where, comparator, unit, code, system)
    if value is None:
        return None
    if comparator and comparator not in _COMPARATORS:
        comparator = ""
    if code and (system == _UCUM or system_key(system) == "ucum"):
        convert_with: str | None = code
    else:
        convert_with = unit or code
    return _new_quantity(
        QuantityValue, (float(value), comparator, convert_with, (unit or code or "").strip())
    )


#: `quantity_key` of an absent Quantity.
NO_QUANTITY = ("no quantity",)


def quantity_key(element: object) -> Hashable | None:
    """What `read_quantity` reads from a Quantity, as a key for memoising answers worked out
    from it; None when it is not plain JSON with a number (int, or float keyed by its exact
    hex form) and string (or absent) comparator, unit, code and system."""
    if element is None:
        return NO_QUANTITY
    if type(element) is not dict:
        return None
    value = element.get("value")
    if type(value) is float:
        number: Hashable = value.hex()
    elif type(value) is int or value is None:
        number = value
    else:
        return None
    texts = (
        element.get("comparator"),
        element.get("unit"),
        element.get("code"),
        element.get("system"),
    )
    for text in texts:
        if text is not None and type(text) is not str:
            return None
    return number, texts


def _not_a_string(where: str, *texts: object) -> None:
    """Raise for the first of comparator, unit, code, system that is not a string."""
    for name, text in zip(("comparator", "unit", "code", "system"), texts, strict=True):
        if text is not None and type(text) is not str:
            raise Malformed(f"{where}.{name} is not a string")
