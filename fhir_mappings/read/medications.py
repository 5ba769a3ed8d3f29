"""Ofatumumab recognition: Kesimpta doses and orders, Arzerra never (SPEC §2;
docs/terminology-sources.md §2).

The medication is read from `medicationCodeableConcept`, or from the Medication a
`medicationReference` points to: contained (`#id`) or in the data (`Medication/x`, an
absolute URL or `urn:uuid:`, including `_include`d ones). Then, in order:

1. Arzerra, never counted: an Arzerra code (NDC 0078-0669/0690, ATC L01FA02/L01XC10), the
   word "arzerra", an intravenous route, or an Arzerra strength (20 mg/mL; 100 mg or
   1000 mg vials) on anything that is ofatumumab. A note goes into `DataQuality.problems`.
2. Kesimpta by code: NDC product 0078-1007 (any form), ATC L04AG12 (or its former
   L04AA52), or an RxNorm code the site configured: `matched_by` names the code.
3. Kesimpta by text, last resort: the brand word "kesimpta" alone ("matched by text
   (brand name Kesimpta)"); the generic word "ofatumumab" only with a subcutaneous route
   or the labelled dose (20 mg, 0.4 mL or one pen): "matched by text (route
   subcutaneous)". The generic word with another dose is IV ofatumumab (rule 1). Without
   either, the record cannot be used: it is skipped and the therapy data are incomplete.

A MedicationAdministration is a dose only when `completed`; dispenses and statements are
read in `dispenses` and `statements`. Dose amount: `dosage.dose` in mg; a volume times the
Medication's strength (or Kesimpta's 50 mg/mL when the product is known by code or brand);
one pen/syringe of Kesimpta = 20 mg. A recorded dose that cannot be read that way keeps the
dose but makes the therapy data incomplete.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from domain.records import ClinicalDate, Dose, MedicationOrder, SourceRef
from fhir_mappings.dates import describe, first_date, parse_clinical_date
from fhir_mappings.errors import Malformed
from fhir_mappings.fhirjson import (
    as_list,
    as_object,
    as_text,
    codings,
    concept_key,
    concept_words,
    matches,
    reference_of,
    reference_target,
)
from fhir_mappings.memo import MISSING, json_key
from fhir_mappings.read.quantity import QuantityValue, quantity_key, read_quantity
from fhir_mappings.site import Mappings

KESIMPTA = "ofatumumab-kesimpta"
ARZERRA = "ofatumumab-arzerra"
ROUTE_SC = "subcutaneous"
ROUTE_IV = "intravenous"
#: Kesimpta is 20 mg in 0.4 mL (docs/terminology-sources.md §2, USPI 16).
KESIMPTA_MG_PER_ML = 50.0
KESIMPTA_DOSE_MG = 20.0

_SC_WORDS = re.compile(r"\b(?:subcutaneous(?:ly)?|subcut|sub-cut|s\.?c\.?|s\.?q\.?)(?:\b|$)")
_IV_WORDS = re.compile(r"\b(?:intravenous(?:ly)?|i\.?v\.?|infusion)(?:\b|$)")
_ARZERRA_STRENGTH = re.compile(
    r"\b20\s*mg\s*/\s*(?:1\s*)?ml\b|\b(?:100|1000|1,000)\s*mg\b", re.IGNORECASE
)
_SINGLE_DOSE_UNITS = frozenset(
    {"pen", "pens", "syringe", "syringes", "injection", "injections", "dose", "doses", "each"}
)


class ReadNotes(Protocol):
    """Where the medication readers report what is not a record (`read._Collected`)."""

    def note(self, text: str) -> None:
        """Listed in the data panel; the data stay complete (IV ofatumumab, for example)."""

    def unusable(self, text: str, area: str) -> None:
        """Listed, and the record area is incomplete: its checks say unknown."""


class MedicationFacts(NamedTuple):
    """What a medication says about itself, worked out once per Medication."""

    #: `matched_by` of a Kesimpta code (NDC/ATC/site RxNorm), of an Arzerra code.
    kesimpta_code: str | None
    arzerra_code: str | None
    #: The words kesimpta/ofatumumab/arzerra appear in a text or display.
    named: bool
    arzerra_named: bool
    #: An Arzerra strength: 20 mg/mL (ingredient ratio or text), 100 mg or 1000 mg.
    arzerra_strength: bool
    mg_per_ml: float | None
    #: The brand word "kesimpta" appears (enough on its own, SPEC §2).
    brand_named: bool = False

    def with_words(self, words: str) -> MedicationFacts:
        """The same facts plus what a reference's display text says."""
        if not words:
            return self
        named, arzerra_named, arzerra_strength = _word_facts(words)
        return self._replace(
            named=self.named or named,
            arzerra_named=self.arzerra_named or arzerra_named,
            arzerra_strength=self.arzerra_strength or arzerra_strength,
            brand_named=self.brand_named or "kesimpta" in words,
        )


_NAMES = ("kesimpta", "ofatumumab", "arzerra")


@lru_cache(maxsize=4096)
def _word_facts(words: str) -> tuple[bool, bool, bool]:
    """(names ofatumumab, names Arzerra, gives an Arzerra strength) for lower-cased words.

    Cached by the words: a pure function, and every dose repeats the same few texts.
    """
    return (
        any(name in words for name in _NAMES),
        "arzerra" in words,
        bool(_ARZERRA_STRENGTH.search(words)),
    )


_NOTHING = MedicationFacts(None, None, False, False, False, None)


class Classified(NamedTuple):
    product: str  # "kesimpta", "arzerra", "unconfirmed" or "" (not ofatumumab)
    matched_by: str
    by_code: bool
    #: The product is known to be Kesimpta (by code or brand name): its strength and pen
    #: size can be used to read a dose.
    labelled: bool = False


def _strength(ingredient: Mapping[str, Any], where: str) -> float | None:
    ratio = as_object(ingredient.get("strength"), f"{where}.strength")
    if ratio is None:
        return None
    numerator = read_quantity(ratio.get("numerator"), f"{where}.strength.numerator")
    denominator = read_quantity(ratio.get("denominator"), f"{where}.strength.denominator")
    if numerator is None or denominator is None:
        return None
    mg, ml = numerator.to("mg"), denominator.to("mL")
    if mg is None or not ml:
        return None
    return mg / ml


def _facts(
    concepts: list[tuple[object, str]], words: str, mg_per_ml: float | None, mappings: Mappings
) -> MedicationFacts:
    kesimpta = arzerra = None
    for concept, where in concepts:
        for match in matches(concept, mappings, where):
            if match.valueset == KESIMPTA and kesimpta is None:
                kesimpta = match.matched_by
            elif match.valueset == ARZERRA and arzerra is None:
                arzerra = match.matched_by
    strength = mg_per_ml is not None and abs(mg_per_ml - 20.0) < 0.01
    return MedicationFacts(kesimpta, arzerra, False, False, strength, mg_per_ml).with_words(words)


def medication_facts(
    medication: Mapping[str, Any], where: str, mappings: Mappings
) -> MedicationFacts:
    """The facts of a Medication resource (contained or not); `Malformed` on bad types.

    Remembered per mappings by the elements they are read from (code, ingredient, form):
    a contained Medication is repeated in every dose that carries one.
    """
    key = _medication_key(medication)
    return mappings.recall("medication-facts", key, _medication_facts, medication, where, mappings)


def _medication_key(medication: Mapping[str, Any]) -> Hashable | None:
    """Everything `_medication_facts` reads (code, form, each ingredient's concept and
    strength), as a key; None when any of it is not plain JSON of the expected shape."""
    ingredients = medication.get("ingredient")
    if ingredients is None:
        ingredients = []
    elif type(ingredients) is not list:
        return None
    items = []
    for ingredient in ingredients:
        item = _ingredient_key(ingredient)
        if item is None:
            return None
        items.append(item)
    form = medication.get("form")
    keys = (concept_key(medication.get("code")), concept_key(form), tuple(items))
    if keys[0] is None or keys[1] is None or (form is not None and type(form) is not dict):
        return None
    return keys


#: An ingredient that is absent (None) and skipped, and an itemCodeableConcept not given.
_SKIPPED = ("skipped",)
_ABSENT = ("absent",)


def _ingredient_key(ingredient: object) -> Hashable | None:
    if ingredient is None:
        return _SKIPPED
    if type(ingredient) is not dict:
        return None
    concept: Hashable | None = _ABSENT
    if "itemCodeableConcept" in ingredient:
        concept = concept_key(ingredient["itemCodeableConcept"])
    strength = ingredient.get("strength")
    if strength is None:
        ratio: Hashable | None = None
    elif type(strength) is dict:
        ratio = (quantity_key(strength.get("numerator")), quantity_key(strength.get("denominator")))
        if ratio[0] is None or ratio[1] is None:
            return None
    else:
        return None
    return None if concept is None else (concept, ratio)


def _medication_facts(
    medication: Mapping[str, Any], where: str, mappings: Mappings
) -> MedicationFacts:
    concepts: list[tuple[object, str]] = [(medication.get("code"), f"{where}.code")]
    words = [concept_words(medication.get("code"))]
    mg_per_ml: float | None = None
    for index, item in enumerate(as_list(medication.get("ingredient"), f"{where}.ingredient")):
        ingredient = as_object(item, f"{where}.ingredient[{index}]")
        if ingredient is None:
            continue
        item_where = f"{where}.ingredient[{index}]"
        if "itemCodeableConcept" in ingredient:
            concepts.append(
                (ingredient["itemCodeableConcept"], f"{item_where}.itemCodeableConcept")
            )
            words.append(concept_words(ingredient["itemCodeableConcept"]))
        mg_per_ml = mg_per_ml or _strength(ingredient, item_where)
    form = as_object(medication.get("form"), f"{where}.form")
    if form is not None:
        codings(form, f"{where}.form")
        words.append(concept_words(form))
    return _facts(concepts, " ".join(words), mg_per_ml, mappings)


class MedicationResolver:
    """Finds the Medication a resource refers to, and remembers which ones were used."""

    def __init__(self, medications: Mapping[str, Mapping[str, Any]], mappings: Mappings) -> None:
        self._medications = medications
        self._mappings = mappings
        self._facts: dict[str, MedicationFacts | Malformed] = {}
        self._displayed: dict[tuple[str, str], MedicationFacts] = {}
        #: What this patient's administrations say apart from their dates (`_administered`).
        self.administrations: dict[Hashable, Administered | None] = {}
        #: What this patient's orders, dispenses and statements' medication and first Dosage
        #: classify as (`kesimpta_dosage`), by everything that reads.
        self.dosages: dict[Hashable, Classified | None] = {}

    @property
    def used(self) -> Mapping[str, MedicationFacts | Malformed]:
        """Each referenced Medication id and its facts, or why it could not be read."""
        return self._facts

    def facts(self, resource: Mapping[str, Any]) -> MedicationFacts | None:
        """The medication of a MedicationAdministration/Request (None when it names none)."""
        if "medicationCodeableConcept" in resource:
            return concept_facts(resource["medicationCodeableConcept"], self._mappings)
        element = resource.get("medicationReference")
        reference = reference_of(element, "medicationReference")
        display = ""
        if isinstance(element, dict):
            display = (as_text(element.get("display"), "medicationReference.display") or "").lower()
        if not reference:
            return _fallback(display)
        if reference.startswith("#"):
            contained = self._contained(resource, reference[1:])
            return contained.with_words(display) if contained else _fallback(display)
        kind, target = reference_target(reference)
        if kind not in ("", "Medication") or target not in self._medications:
            return _fallback(display)
        facts = self._facts.get(target)
        if facts is None:
            try:
                facts = medication_facts(
                    self._medications[target], f"Medication/{target}", self._mappings
                )
            except Malformed as err:
                facts = err
            self._facts[target] = facts
        if isinstance(facts, Malformed):
            raise Malformed(f"its Medication/{target} could not be read ({facts})")
        if not display:
            return facts
        displayed = self._displayed.get((target, display))
        if displayed is None:
            displayed = self._displayed[(target, display)] = facts.with_words(display)
        return displayed

    def _contained(self, resource: Mapping[str, Any], local_id: str) -> MedicationFacts | None:
        for index, item in enumerate(as_list(resource.get("contained"), "contained")):
            if (
                isinstance(item, dict)
                and item.get("resourceType") == "Medication"
                and item.get("id") == local_id
            ):
                return medication_facts(item, f"contained[{index}]", self._mappings)
        return None


def _fallback(display: str) -> MedicationFacts | None:
    """What a reference that leads to no Medication says: only its display's words."""
    return _NOTHING.with_words(display) if display else None


def concept_facts(concept: object, mappings: Mappings) -> MedicationFacts:
    """The facts of a medicationCodeableConcept; remembered per mappings by `concept_key`."""
    key = concept_key(concept)
    return mappings.recall("medication-concept-facts", key, _concept_facts, concept, mappings)


def _concept_facts(concept: object, mappings: Mappings) -> MedicationFacts:
    where = "medicationCodeableConcept"
    return _facts([(concept, where)], concept_words(concept), None, mappings)


def route_of(concept: object, mappings: Mappings, where: str) -> str | None:
    """ "subcutaneous", "intravenous" or None, from route codes, else the route's words.

    Remembered per mappings by `concept_key` (every dose repeats the same route).
    """
    return mappings.recall("route", concept_key(concept), _route_of, concept, mappings, where)


def _route_of(concept: object, mappings: Mappings, where: str) -> str | None:
    for match in matches(concept, mappings, where):
        if match.valueset == "route-intravenous":
            return ROUTE_IV
        if match.valueset == "route-subcutaneous":
            return ROUTE_SC
    words = concept_words(concept)
    if _IV_WORDS.search(words):
        return ROUTE_IV
    if _SC_WORDS.search(words):
        return ROUTE_SC
    return None


def labelled_dose(quantity: QuantityValue | None) -> bool | None:
    """True for the labelled dose (20 mg, 0.4 mL or one pen/syringe), False for another mg
    or mL amount, None when absent or in a unit that says neither."""
    if quantity is None:
        return None
    mg = quantity.to("mg")
    if mg is not None:
        return abs(mg - KESIMPTA_DOSE_MG) < 0.01
    ml = quantity.to("mL")
    if ml is not None:
        return abs(ml * KESIMPTA_MG_PER_ML - KESIMPTA_DOSE_MG) < 0.01
    if (quantity.printed or "").strip("{} ").lower() in _SINGLE_DOSE_UNITS:
        return abs(quantity.value - 1) < 0.01
    return None


def classify(facts: MedicationFacts, route: str | None, dose: QuantityValue | None) -> Classified:
    """Kesimpta, Arzerra, unconfirmed ofatumumab, or not ofatumumab at all (module doc)."""
    kesimpta = facts.kesimpta_code
    if kesimpta is None and facts.arzerra_code is None and not facts.named:
        return Classified("", "", False)
    if facts.arzerra_code is not None:
        return Classified("arzerra", facts.arzerra_code, True)
    if facts.arzerra_named:
        return Classified("arzerra", "the name Arzerra", False)
    if route == ROUTE_IV:
        return Classified("arzerra", "intravenous route", kesimpta is not None)
    if facts.arzerra_strength:
        return Classified("arzerra", "Arzerra strength (20 mg/mL vial)", kesimpta is not None)
    if kesimpta is not None:
        return Classified("kesimpta", kesimpta, True, True)
    if facts.brand_named:
        # The brand names one product; a wrong amount is the dose-interval check's concern.
        return Classified("kesimpta", "matched by text (brand name Kesimpta)", False, True)
    labelled = labelled_dose(dose)
    if labelled is False and dose is not None:
        return Classified("arzerra", f"ofatumumab {dose.raw()}, not the 20 mg dose", False)
    if route == ROUTE_SC:
        return Classified("kesimpta", "matched by text (route subcutaneous)", False)
    if labelled:
        return Classified("kesimpta", "matched by text (dose 20 mg)", False)
    return Classified("unconfirmed", "", False)


def dose_in_mg(
    quantity: QuantityValue | None, facts: MedicationFacts, by_code: bool
) -> float | None:
    """A dose in mg, when it can be known (module doc); else None."""
    if quantity is None:
        return None
    mg = quantity.to("mg")
    if mg is not None:
        return mg
    ml = quantity.to("mL")
    if ml is not None:
        strength = facts.mg_per_ml or (KESIMPTA_MG_PER_ML if by_code else None)
        return ml * strength if strength else None
    unit = (quantity.printed or "").strip("{} ").lower()
    if by_code and unit in _SINGLE_DOSE_UNITS:
        return quantity.value * KESIMPTA_DOSE_MG
    return None


def counts_as_kesimpta(
    found: Classified, reference: str, what: str, notes: ReadNotes, area: str
) -> bool:
    """True for Kesimpta. IV ofatumumab is listed (not incomplete data, SPEC §2); ofatumumab
    that cannot be confirmed as Kesimpta is a record the app cannot use: the area is
    incomplete."""
    if found.product == "arzerra":
        notes.note(
            f"{reference} is IV ofatumumab (Arzerra: {found.matched_by}), "
            f"not counted as a Kesimpta {what}"
        )
    elif found.product == "unconfirmed":
        notes.unusable(
            f"{reference} names ofatumumab without a Kesimpta code, subcutaneous route or "
            f"20 mg dose; not counted as a Kesimpta {what}, so the therapy data are incomplete",
            area,
        )
    return found.product == "kesimpta"


def kesimpta_dosage(
    resource: Mapping[str, Any],
    reference: str,
    resolver: MedicationResolver,
    mappings: Mappings,
    notes: ReadNotes,
    element: str,
    what: str,
    area: str,
) -> tuple[Mapping[str, Any], Classified] | None:
    """For an order, dispense or statement: its first Dosage (of `element`) and what its
    medication is, when it counts as Kesimpta (`counts_as_kesimpta`, which notes Arzerra
    and unconfirmed ofatumumab as a `what` in `area`); else None."""
    key = _dosage_key(resource, element, mappings)
    if key is None:
        found = _classify_dosage(resource, element, resolver, mappings)
    else:
        found = resolver.dosages.get(key, MISSING)
        if found is MISSING:
            found = resolver.dosages[key] = _classify_dosage(resource, element, resolver, mappings)
    if found is None or not counts_as_kesimpta(found, reference, what, notes, area):
        return None
    # The first Dosage as `first_dosage` gives it: `found` was read (the checked way) from
    # this resource or from one with the same JSON, so `element` is a list or absent.
    items = resource.get(element)
    return (items[0] if items else None) or {}, found


def _classify_dosage(
    resource: Mapping[str, Any], element: str, resolver: MedicationResolver, mappings: Mappings
) -> Classified | None:
    """What the medication and first Dosage classify as; None when it names no medication."""
    facts = resolver.facts(resource)
    if facts is None:
        return None
    _, route, dose = first_dosage(resource, element, mappings)
    return classify(facts, route, dose)


def _dosage_key(resource: Mapping[str, Any], element: str, mappings: Mappings) -> Hashable | None:
    """Everything `_classify_dosage` reads (the medication as `_medication_parts` gives it,
    the whole list `element` for its first Dosage), as a key with the mappings and element
    it reads them with; None when it is not plain JSON (`json_key`)."""
    key = json_key(*_medication_parts(resource), resource.get(element))
    return None if key is None else (key, element, mappings)


def read_administration(
    resource: Mapping[str, Any],
    reference: str,
    resolver: MedicationResolver,
    mappings: Mappings,
    notes: ReadNotes,
) -> Dose | None:
    """A counted Kesimpta dose from a completed MedicationAdministration, else None."""
    status = resource.get("status")
    if status != "completed":
        as_text(status, "status")  # Malformed when it is not a string
        return None
    given = _administered(resource, resolver, mappings)
    if given is None:
        return None
    found, amount, amount_text, display = given
    if found.product != "kesimpta":
        counts_as_kesimpta(found, reference, "dose", notes, "doses")  # notes why not
        return None
    when = first_date(resource, _ADMINISTRATION_DATES, "")
    if when is None:
        raise Malformed("a Kesimpta administration with no effective date", "doses")
    if amount is None and amount_text != NOT_RECORDED:
        notes.unusable(
            f"{reference}: the Kesimpta dose '{amount_text}' could not be read as mg, mL or "
            "pens; the dose is counted but the therapy data are incomplete",
            "doses",
        )
    return Dose(when, amount, SourceRef(reference, display + describe(when), found.matched_by))


_ADMINISTRATION_DATES = ("effectiveDateTime", "effectivePeriod.start")


#: `Administered.amount_text` when the administration records no dose.
NOT_RECORDED = "not recorded"


class Administered(NamedTuple):
    """What a completed MedicationAdministration says apart from its date: the product and
    how it was matched, and the amount (in mg, else as recorded) and route as the dose's
    display shows them."""

    found: Classified
    amount: float | None
    amount_text: str
    #: The dose's display up to its date: "Kesimpta 20 mg, Subcutaneous, on ".
    display: str


def _administered(
    resource: Mapping[str, Any], resolver: MedicationResolver, mappings: Mappings
) -> Administered | None:
    """`_read_administered`, remembered per patient (on the resolver) by everything it reads:
    a patient's doses repeat the same medication and dosage, only the date changes."""
    key = _administration_key(resource, mappings)
    if key is None:
        return _read_administered(resource, resolver, mappings)
    given: Administered | None = resolver.administrations.get(key, MISSING)
    if given is MISSING:
        given = resolver.administrations[key] = _read_administered(resource, resolver, mappings)
    return given


def _read_administered(
    resource: Mapping[str, Any], resolver: MedicationResolver, mappings: Mappings
) -> Administered | None:
    """None when the resource names no medication; `Malformed` on bad types."""
    facts = resolver.facts(resource)
    if facts is None:
        return None
    dosage = as_object(resource.get("dosage"), "dosage") or {}
    route = route_of(dosage.get("route"), mappings, "dosage.route")
    dose = read_quantity(dosage.get("dose"), "dosage.dose")
    found = classify(facts, route, dose)
    amount = dose_in_mg(dose, facts, found.labelled)
    if amount is not None:
        amount_text = f"{amount:g} mg"
    else:
        amount_text = dose.raw() if dose is not None else NOT_RECORDED
    shown = amount_text if amount is not None else f"dose {amount_text}"
    return Administered(
        found, amount, amount_text, f"Kesimpta {shown}, {route or 'route not recorded'}, on "
    )


def _administration_key(resource: Mapping[str, Any], mappings: Mappings) -> Hashable | None:
    """Everything `_read_administered` reads (the medication as `_medication_parts` gives
    it, and `dosage`), as a key with the mappings it reads them with; None when it is not
    plain JSON (`json_key`)."""
    key = json_key(*_medication_parts(resource), resource.get("dosage"))
    return None if key is None else (key, mappings)


def _medication_parts(resource: Mapping[str, Any]) -> tuple[object, ...]:
    """The elements `MedicationResolver.facts` reads from a resource: the concept, else the
    reference and the contained resources it may point to. The resolver's own Medications
    are fixed for the patient (the memos that use these keys live on it). The two shapes
    have different lengths, so a concept never shares a key with a reference."""
    if "medicationCodeableConcept" in resource:
        return (resource["medicationCodeableConcept"],)
    return resource.get("medicationReference"), resource.get("contained")


def first_dosage(
    resource: Mapping[str, Any], element: str, mappings: Mappings
) -> tuple[Mapping[str, Any], str | None, QuantityValue | None]:
    """The first Dosage of a list element (MedicationRequest/Dispense `dosageInstruction`,
    MedicationStatement `dosage`), its route and its doseAndRate[0].doseQuantity."""
    where = _DOSAGE_PATHS.get(element) or _dosage_paths(element)
    items = as_list(resource.get(element), element)
    first = (as_object(items[0], where[0]) if items else None) or {}
    route = route_of(first.get("route"), mappings, where[1])
    rates = as_list(first.get("doseAndRate"), where[2])
    rate = as_object(rates[0], where[3]) if rates else None
    dose = read_quantity(rate.get("doseQuantity") if rate else None, where[4])
    return first, route, dose


#: The element paths `first_dosage` names in its messages, by list element: made once.
_DOSAGE_PATHS: dict[str, tuple[str, str, str, str, str]] = {}


def _dosage_paths(element: str) -> tuple[str, str, str, str, str]:
    first = f"{element}[0]"
    paths = (
        first,
        f"{first}.route",
        f"{first}.doseAndRate",
        f"{first}.doseAndRate[0]",
        f"{first}.doseAndRate[0].doseQuantity",
    )
    if len(_DOSAGE_PATHS) < 16:  # the few element names the readers use
        _DOSAGE_PATHS[element] = paths
    return paths


def _validity(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    """dispenseRequest.validityPeriod ({} when absent); `Malformed` on bad types."""
    dispense = as_object(resource.get("dispenseRequest"), "dispenseRequest") or {}
    return as_object(dispense.get("validityPeriod"), "dispenseRequest.validityPeriod") or {}


def _order_start(
    resource: Mapping[str, Any], first: Mapping[str, Any]
) -> tuple[ClinicalDate | None, str]:
    validity = _validity(resource)
    if validity.get("start") is not None:
        where = "dispenseRequest.validityPeriod.start"
        return parse_clinical_date(validity["start"], where), "validity start"
    timing = as_object(first.get("timing"), "dosageInstruction.timing") or {}
    repeat = as_object(timing.get("repeat"), "dosageInstruction.timing.repeat") or {}
    bounds = as_object(repeat.get("boundsPeriod"), "dosageInstruction.timing.repeat.boundsPeriod")
    if bounds is not None and bounds.get("start") is not None:
        where = "dosageInstruction.timing.repeat.boundsPeriod.start"
        return parse_clinical_date(bounds["start"], where), "planned start"
    if resource.get("authoredOn") is not None:
        return parse_clinical_date(resource["authoredOn"], "authoredOn"), "authored"
    return None, ""


def read_request(
    resource: Mapping[str, Any],
    reference: str,
    resolver: MedicationResolver,
    mappings: Mappings,
    notes: ReadNotes,
) -> MedicationOrder | None:
    """A Kesimpta MedicationOrder from a MedicationRequest (not entered-in-error), else None.

    `start` is the first of dispenseRequest.validityPeriod.start, dosageInstruction[0]
    .timing.repeat.boundsPeriod.start and authoredOn: the planned start of therapy, then
    the date the order was written. `end` (validityPeriod.end) is a stopped order's stop
    date and `authored` tells which order is the newest (SPEC §2 "Discontinued").
    """
    status = as_text(resource.get("status"), "status")
    if status is None or status == "entered-in-error":
        return None
    kesimpta = kesimpta_dosage(
        resource, reference, resolver, mappings, notes, "dosageInstruction", "order", "orders"
    )
    if kesimpta is None:
        return None
    first, found = kesimpta
    intent = as_text(resource.get("intent"), "intent") or "unknown"
    start, start_kind = _order_start(resource, first)
    end = _validity(resource).get("end")
    end = parse_clinical_date(end, "dispenseRequest.validityPeriod.end") if end else None
    authored = first_date(resource, ("authoredOn",), "")
    when = f"{start_kind} {start.describe()}" if start else "no start date"
    if end is not None:
        when += f", until {end.describe()}"
    display = f"Kesimpta order ({status}, {intent}), {when}"
    return MedicationOrder(
        status,
        intent,
        start,
        SourceRef(reference, display, found.matched_by),
        end=end,
        authored=authored,
    )
