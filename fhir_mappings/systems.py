"""Code systems: one key per system, every URI in common use for it, and code normalisation.

SPEC §2: codes are matched by (system, code). Real data spells the same system several ways
(`urn:oid:2.16.840.1.113883.6.1` for LOINC, SNOMED edition URIs, German ATC URIs…) and the
same code several ways (NDC with or without hyphens, 10 or 11 digits; CVX with or without a
leading zero; ICD-10-CM with or without the dot). Everything here is a dict lookup or a few
string operations: it runs once per coding in the hot loop.

URIs and OIDs: docs/terminology-sources.md §6; OIDs verified against public code-system
tables (LOINC 6.1, SNOMED CT 6.96, RxNorm 6.88, NDC 6.69, CVX 12.292 and 6.59, ICD-10-CM
6.90, CPT 6.12, ATC 6.73, ObservationInterpretation 5.83, RouteOfAdministration 5.112, NCI
Thesaurus 3.26.1.1).
"""

from __future__ import annotations

from typing import NamedTuple


class System(NamedTuple):
    key: str
    uri: str
    label: str


_SYSTEMS: tuple[tuple[System, tuple[str, ...]], ...] = (
    (
        System("loinc", "http://loinc.org", "LOINC"),
        ("urn:oid:2.16.840.1.113883.6.1",),
    ),
    (
        System("snomed", "http://snomed.info/sct", "SNOMED CT"),
        ("urn:oid:2.16.840.1.113883.6.96",),
    ),
    (
        System("rxnorm", "http://www.nlm.nih.gov/research/umls/rxnorm", "RxNorm"),
        ("urn:oid:2.16.840.1.113883.6.88",),
    ),
    (System("ndc", "http://hl7.org/fhir/sid/ndc", "NDC"), ("urn:oid:2.16.840.1.113883.6.69",)),
    (
        System("cvx", "http://hl7.org/fhir/sid/cvx", "CVX"),
        # 12.292 is HL7 table 0292; 6.59 is the alternate OID C32/CCD documents use for CVX.
        ("urn:oid:2.16.840.1.113883.12.292", "urn:oid:2.16.840.1.113883.6.59"),
    ),
    (
        System("icd10cm", "http://hl7.org/fhir/sid/icd-10-cm", "ICD-10-CM"),
        ("urn:oid:2.16.840.1.113883.6.90",),
    ),
    (System("icd10", "http://hl7.org/fhir/sid/icd-10", "ICD-10"), ()),
    (
        System("atc", "http://www.whocc.no/atc", "ATC"),
        (
            "urn:oid:2.16.840.1.113883.6.73",
            "http://fhir.de/CodeSystem/bfarm/atc",
            "http://fhir.de/CodeSystem/dimdi/atc",
            "http://www.whocc.no/atc_ddd_index",
        ),
    ),
    (System("cpt", "http://www.ama-assn.org/go/cpt", "CPT"), ("urn:oid:2.16.840.1.113883.6.12",)),
    (System("ucum", "http://unitsofmeasure.org", "UCUM"), ("urn:oid:2.16.840.1.113883.6.8",)),
    (
        System(
            "interpretation",
            "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
            "interpretation",
        ),
        (
            "http://hl7.org/fhir/v3/ObservationInterpretation",
            "urn:oid:2.16.840.1.113883.5.83",
            # HL7 v2 table 0078 uses the same letters for the flags we read.
            "http://terminology.hl7.org/CodeSystem/v2-0078",
            "http://hl7.org/fhir/v2/0078",
        ),
    ),
    (
        System(
            "route", "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration", "HL7 route"
        ),
        ("http://hl7.org/fhir/v3/RouteOfAdministration", "urn:oid:2.16.840.1.113883.5.112"),
    ),
    (System("edqm", "http://standardterms.edqm.eu", "EDQM"), ("urn:oid:0.4.0.127.0.16.1.1.2.1",)),
    (
        System("nci", "http://ncimeta.nci.nih.gov", "NCI Thesaurus"),
        ("http://ncithesaurus-stage.nci.nih.gov", "urn:oid:2.16.840.1.113883.3.26.1.1"),
    ),
    (System("dicom", "http://dicom.nema.org/resources/ontology/DCM", "DICOM"), ()),
)

SYSTEMS: dict[str, System] = {system.key: system for system, _ in _SYSTEMS}

_BY_URI: dict[str, str] = {}
for _system, _aliases in _SYSTEMS:
    for _uri in (_system.uri, *_aliases):
        _BY_URI[_uri] = _system.key
        _BY_URI[_uri.lower()] = _system.key

#: Systems whose value sets may carry `prefixes` (ICD-10 categories).
PREFIX_SYSTEMS = frozenset({"icd10cm", "icd10"})

_UNKNOWN = ""
_LOCAL = "uri:"
_seen: dict[str, str] = {}
_SEEN_MAX = 4096


def system_key(uri: object) -> str:
    """The key of a code system URI: "loinc", "snomed", … for the systems above, else the
    URI itself (trimmed, without a trailing slash) so a site's local code systems match.

    Tolerates https/http, a trailing slash, letter case and SNOMED edition/version URIs.
    A coding with no system gets "" and never matches (SPEC §2: match by system and code).
    """
    if not isinstance(uri, str) or not uri.strip():
        return _UNKNOWN
    key = _BY_URI.get(uri)
    if key is not None:
        return key
    key = _seen.get(uri)
    if key is not None:
        return key
    text = uri.strip().rstrip("/").lower()
    if text.startswith("https://"):
        text = "http://" + text[8:]
    key = _BY_URI.get(text, _UNKNOWN)
    if not key and text.startswith("http://snomed.info/sct/"):
        key = "snomed"
    if not key:
        key = _LOCAL + uri.strip().rstrip("/")
    if len(_seen) < _SEEN_MAX:
        _seen[uri] = key
    return key


def label(key: str) -> str:
    """How a system is named in evidence ("LOINC", "NDC"…)."""
    system = SYSTEMS.get(key)
    return system.label if system else key.removeprefix(_LOCAL)


def code_keys(key: str, code: str) -> tuple[str, ...]:
    """The normalised lookup keys of a code in system `key` (usually one).

    NDC may give several: a 10-digit code without hyphens can be 4-4-2, 5-3-2 or 5-4-1, so
    every 11-digit reading is tried (only the value sets' own codes can match them).
    """
    text = code.strip()
    if key == "ndc":
        return ndc_keys(text)
    if key == "cvx":
        stripped = text.lstrip("0")
        return (stripped or "0",)
    if key in PREFIX_SYSTEMS:
        return (text.replace(".", "").replace(" ", "").upper(),)
    if key in ("atc", "loinc", "interpretation", "route", "dicom"):
        return (text.replace(" ", "").upper(),)
    return (text,)


def ndc_keys(code: str) -> tuple[str, ...]:
    """11-digit package keys ("00078100768") and 9-digit product keys ("000781007") of an NDC.

    Hyphenated codes are unambiguous: each segment is zero-padded to 5-4-2 (or 5-4 for a
    product code). Without hyphens, 11 and 9 digits are read as 5-4-2 and 5-4; 10 and 8
    digits could be any of the 10-digit layouts, so every reading is returned.
    """
    text = code.replace(" ", "")
    if "-" in text:
        parts = text.split("-")
        if not all(part.isdigit() for part in parts):
            return ()
        if len(parts) == 3:
            labeler, product, package = parts
            if len(labeler) > 5 or len(product) > 4 or len(package) > 2:
                return ()
            product9 = labeler.zfill(5) + product.zfill(4)
            return (product9 + package.zfill(2), product9)
        if len(parts) == 2:
            labeler, product = parts
            if len(labeler) > 5 or len(product) > 4:
                return ()
            return (labeler.zfill(5) + product.zfill(4),)
        return ()
    if not text.isdigit():
        return ()
    if len(text) == 11:
        return (text, text[:9])
    if len(text) == 9:
        return (text,)
    if len(text) == 10:
        readings = ("0" + text, text[:5] + "0" + text[5:], text[:9] + "0" + text[9:])
        return tuple(dict.fromkeys(key for reading in readings for key in (reading, reading[:9])))
    if len(text) == 8:
        return ("0" + text, text[:5] + "0" + text[5:])
    return ()
