"""A small UCUM reader: enough to convert lab units to the canonical ones (SPEC §2).

`parse_unit("mg/dL")` gives a factor and a dimension (mass, length, IU exponents). Two units
convert when their dimensions match: g/L, mg/dL, g/dL, mg/L, mg/mL, mg/100mL for Ig
concentrations; 10*3/uL, 10*9/L, /uL, /mm3, cells/uL, 10*6/L for counts; [IU]/mL, m[IU]/mL,
IU/L for IU families. A unit it cannot read gives None, and the value is never compared raw.

Lab systems also print non-UCUM spellings (`K/uL`, `x10E3/uL`, `mIU/mL`, `cells/mm3`,
`mcg`): `_respell` maps the common ones to UCUM first. Results are cached per unit string.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

Dimension = tuple[int, int, int]  # exponents of gram, metre, [IU]
_NONE: Dimension = (0, 0, 0)


class Unit(NamedTuple):
    factor: float
    dimension: Dimension


_ATOMS: dict[str, Unit] = {
    "g": Unit(1.0, (1, 0, 0)),
    "m": Unit(1.0, (0, 1, 0)),
    "L": Unit(1e-3, (0, 3, 0)),
    "l": Unit(1e-3, (0, 3, 0)),
    "[IU]": Unit(1.0, (0, 0, 1)),
    "[iU]": Unit(1.0, (0, 0, 1)),
    "IU": Unit(1.0, (0, 0, 1)),  # not UCUM, but what most labs print
}
_PREFIXES: dict[str, float] = {
    "da": 1e1,
    "Y": 1e24,
    "Z": 1e21,
    "E": 1e18,
    "P": 1e15,
    "T": 1e12,
    "G": 1e9,
    "M": 1e6,
    "k": 1e3,
    "h": 1e2,
    "d": 1e-1,
    "c": 1e-2,
    "m": 1e-3,
    "u": 1e-6,
    "n": 1e-9,
    "p": 1e-12,
    "f": 1e-15,
    "a": 1e-18,
}
_POWER_OF_TEN = re.compile(r"(?:[xX]\s*)?10\s*(?:\*|\^|[eE])\s*([+-]?\d+)")
_THOUSANDS = re.compile(r"^(?:K|k|thou|THOU|Thou|TH)(?=/)")
_CELLS = re.compile(r"\b(?:cells?|copies|CELLS?|COPIES)\b")
_COMPONENT = re.compile(r"^(?P<mult>\d+)?(?P<body>[A-Za-z\[\]%]*?)(?P<exp>[+-]?\d+)?$")
_SPLIT = re.compile(r"([./])")


def _respell(text: str) -> str:
    text = text.replace(" ", "").replace("µ", "u").replace("μ", "u")
    text = text.replace("mcg", "ug").replace("mcL", "uL").replace("mcl", "ul")
    text = _POWER_OF_TEN.sub(lambda m: f"10*{int(m.group(1))}", text)
    text = _THOUSANDS.sub("10*3", text)
    return _CELLS.sub(lambda m: "{" + m.group(0).lower() + "}", text)


def _atom(body: str) -> Unit | None:
    if body in _ATOMS:
        return _ATOMS[body]
    for prefix, scale in _PREFIXES.items():
        if body.startswith(prefix) and body[len(prefix) :] in _ATOMS:
            base = _ATOMS[body[len(prefix) :]]
            return Unit(base.factor * scale, base.dimension)
    return None


def _component(text: str) -> Unit | None:
    annotation = text.find("{")
    if annotation >= 0:
        if not text.endswith("}"):
            return None
        text = text[:annotation]
        if not text:
            return Unit(1.0, _NONE)
    if text == "%":
        return Unit(0.01, _NONE)
    if text.startswith("10*"):
        digits = text[3:]
        return Unit(10.0 ** int(digits), _NONE) if digits.lstrip("+-").isdigit() else None
    match = _COMPONENT.match(text)
    if match is None:
        return None
    body, multiplier, exponent = match["body"], match["mult"], match["exp"]
    if not body:
        # A bare number such as "100" (in "mg/100mL" the 100 is read with the atom).
        return Unit(float(text), _NONE) if text.isdigit() else None
    unit = _atom(body)
    if unit is None:
        return None
    power = int(exponent) if exponent else 1
    factor = unit.factor**power * (int(multiplier) if multiplier else 1)
    mass, length, iu = unit.dimension
    return Unit(factor, (mass * power, length * power, iu * power))


@lru_cache(maxsize=2048)
def parse_unit(text: str) -> Unit | None:
    """The factor and dimension of a unit string, or None when it cannot be read."""
    spelled = _respell(text.strip())
    if not spelled or "(" in spelled:
        return None
    factor, mass, length, iu = 1.0, 0, 0, 0
    sign = 1
    parts = _SPLIT.split(spelled)
    if parts and parts[0] == "":
        parts = parts[1:]
        if not parts or parts[0] != "/":
            return None
    for part in parts:
        if part == "/":
            sign = -1
            continue
        if part == ".":
            sign = 1
            continue
        unit = _component(part)
        if unit is None:
            return None
        factor = factor * unit.factor if sign > 0 else factor / unit.factor
        mass += sign * unit.dimension[0]
        length += sign * unit.dimension[1]
        iu += sign * unit.dimension[2]
        sign = 1
    return Unit(factor, (mass, length, iu))


def convert(value: float, unit: str | None, target: str) -> float | None:
    """`value` in `unit` expressed in `target`, or None when the units do not convert."""
    if not unit:
        return None
    factor = _factor(unit, target)
    return None if factor is None else value * factor


@lru_cache(maxsize=4096)
def _factor(unit: str, target: str) -> float | None:
    source = parse_unit(unit)
    if source is None:
        # UCUM is case-sensitive, lab printouts are not ("MG/DL"): one lenient retry.
        source = parse_unit(unit.lower())
    wanted = parse_unit(target)
    if source is None or wanted is None or source.dimension != wanted.dimension:
        return None
    return source.factor / wanted.factor
