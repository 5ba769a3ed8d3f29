"""Kesimpta MedicationDispense -> `Dispense`: pens handed to the patient (SPEC §2 "Therapy
recorded outside the clinic").

Only `completed` dispenses count. The day is `whenHandedOver`, else `whenPrepared`. The
medication is recognised as for administrations (`medications.classify`: code, brand
word, or the generic word with a subcutaneous route or the labelled dose in
`dosageInstruction`). The pens come from `quantity`:

- a count of pens: units pen(s), syringe(s), injection(s), dose(s), each, "1", or no unit;
- a volume: mL / 0.4 (Kesimpta is 20 mg in 0.4 mL); a mass: mg / 20;
- cartons, packs or boxes: one pen each (every Kesimpta package holds one pen or syringe,
  USPI 16.1; counting fewer pens than were handed over makes the next dose fall due sooner,
  never later);
- no quantity: one pen.

A quantity that is not a whole number of pens counts the whole pens in it (a part of a pen
is not a dose), and says so. Any other unit, less than one pen, or more than a year's
doses (`MAX_PENS_PER_DISPENSE`: a typing error such as 100 for 1.00, which would otherwise
place supply for years, or for ever) cannot be read: the dispense still counts as one pen
(something was handed over) and the therapy data are incomplete, so the checks that depend
on them say unknown with the reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from domain.records import Dispense, SourceRef
from fhir_mappings.dates import describe, first_date
from fhir_mappings.errors import Malformed
from fhir_mappings.fhirjson import as_text
from fhir_mappings.memo import Memo, json_key
from fhir_mappings.read.medications import (
    KESIMPTA_DOSE_MG,
    KESIMPTA_MG_PER_ML,
    MedicationResolver,
    ReadNotes,
    kesimpta_dosage,
)
from fhir_mappings.read.quantity import QuantityValue, read_quantity
from fhir_mappings.site import Mappings

#: Units that count pens: an exact word, or one of the pen words in a longer unit
#: ("prefilled pen", "Pen(s)", "{syringe}").
_COUNT_UNITS = frozenset({"", "1", "each", "ea", "unit of presentation"})
_PEN_WORDS = re.compile(r"\b(?:pens?|syringes?|injections?|doses?)\b")
_PACK_WORDS = re.compile(r"\b(?:packs?|packages?|cartons?|box(?:es)?|kits?)\b")
_DISPENSE_DATES = ("whenHandedOver", "whenPrepared")
#: The most pens one dispense can plausibly hand over: a year of monthly doses (SPEC is
#: silent; pharmacies dispense one to three months). More is read as a data error.
MAX_PENS_PER_DISPENSE = 13


def _pens(quantity: QuantityValue | None) -> tuple[float | None, str]:
    """(pens, how they were counted); None pens when the unit says nothing about pens."""
    if quantity is None:
        return 1.0, "quantity not recorded: one pen"
    raw = quantity.raw()
    unit = (quantity.printed or "").strip("{} ").lower()
    if unit in _COUNT_UNITS or _PEN_WORDS.search(unit):
        return quantity.value, raw
    if _PACK_WORDS.search(unit):
        return quantity.value, f"{raw} (one pen per carton)"
    ml = quantity.to("mL")
    if ml is not None:
        return ml * KESIMPTA_MG_PER_ML / KESIMPTA_DOSE_MG, f"{raw} (0.4 mL per pen)"
    mg = quantity.to("mg")
    if mg is not None:
        return mg / KESIMPTA_DOSE_MG, f"{raw} (20 mg per pen)"
    return None, raw


def read_dispense(
    resource: Mapping[str, Any],
    reference: str,
    resolver: MedicationResolver,
    mappings: Mappings,
    notes: ReadNotes,
) -> Dispense | None:
    """A completed Kesimpta dispense (module doc), else None."""
    if as_text(resource.get("status"), "status") != "completed":
        return None
    kesimpta = kesimpta_dosage(
        resource, reference, resolver, mappings, notes, "dosageInstruction", "dispense", "doses"
    )
    if kesimpta is None:
        return None
    _, found = kesimpta
    when = first_date(resource, _DISPENSE_DATES, "")
    if when is None:
        raise Malformed("a Kesimpta dispense with no whenHandedOver or whenPrepared", "doses")
    element = resource.get("quantity")
    key = json_key(element)
    counted = None if key is None else _COUNTED.get(key)
    if counted is None:
        counted = _counted(element)
        if key is not None:
            _COUNTED.keep(key, counted)
    if isinstance(counted, str):
        notes.unusable(
            f"{reference}: the quantity dispensed ({counted}) cannot be read as Kesimpta pens; "
            "counted as one pen, so the therapy data are incomplete",
            "doses",
        )
        count, how = 1, counted
    else:
        count, how = counted
    plural = "pen" if count == 1 else "pens"
    display = f"Kesimpta dispensed {describe(when)}: {count} {plural} ({how})"
    return Dispense(when, count, how, SourceRef(reference, display, found.matched_by))


#: `_counted` answers by the quantity's JSON (`json_key`, exact types): they depend on
#: nothing else (no site setting), and dispenses repeat a few quantities ("1 pen").
_COUNTED = Memo()


def _counted(element: object) -> tuple[int, str] | str:
    """The whole pens in a dispense's quantity and how they were counted, or, when it cannot
    be read as pens, what it says (`Malformed` on bad types)."""
    quantity = read_quantity(element, "quantity")
    pens, how = _pens(quantity)
    # `not 1 <= pens <= max` is also true for NaN.
    comparator = quantity is not None and quantity.comparator
    if pens is None or not 1 <= pens <= MAX_PENS_PER_DISPENSE or comparator:
        if pens is not None and pens > MAX_PENS_PER_DISPENSE:
            how += f": more than {MAX_PENS_PER_DISPENSE} pens (a year of doses) in one dispense"
        return how
    count = math.floor(pens + 1e-6)
    if abs(pens - count) > 1e-6:
        how += f"; {count} whole pen(s) counted"
    return count, how
