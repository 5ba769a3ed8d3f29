"""Small builders for the synthetic FHIR R4 resources of the demo cohort and the generator.

A `PatientBuilder` collects one patient's resources as plain JSON dicts with deterministic
ids (`<key>-obs-1`, `<key>-mad-3`, …) and relative references (`Patient/<key>`). Every date
is an offset in days from the builder's `anchor`, so the same situation built on another
day moves with it. `smartapp.demo.bundles` turns the list into a collection Bundle or a
transaction Bundle of conditional updates.

The codes are those of the app's value sets (`fhir_mappings/valuesets/*.json`, each code
with its public source: LOINC, SNOMED CT, CVX, NDC, ATC). This module is the one place
outside `fhir_mappings` that knows them: it has to, to write FHIR.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

Resource = dict[str, Any]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
CVX = "http://hl7.org/fhir/sid/cvx"
NDC = "http://hl7.org/fhir/sid/ndc"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"

#: A made-up laboratory's local code system (messy data: the LOINC coding is not first).
LOCAL_LAB_CODES = "https://lab.example.org/fhir/CodeSystem/local-tests"
#: Tag on every demo resource, so anyone can find (and clean up) what the demo wrote.
DEMO_TAG_SYSTEM = "https://ofatumumab-smartapp.example.org/fhir/CodeSystem/demo"

# --- Drug codes (docs/terminology-sources.md §2) ------------------------------------------
KESIMPTA_NDC_PACKAGE = "0078-1007-68"  # carton of 1 x 20 mg/0.4 mL Sensoready Pen
KESIMPTA_NDC_PACKAGE_11 = "00078100768"  # the same package in 11-digit (5-4-2) form
KESIMPTA_NDC_SYRINGE = "0078-1007-69"  # prefilled syringe
KESIMPTA_ATC = "L04AG12"
KESIMPTA_DISPLAY = "Kesimpta (ofatumumab) 20 mg/0.4 mL injection, for subcutaneous use"
ARZERRA_NDC_PACKAGE = "0078-0690-61"
ARZERRA_ATC = "L01FA02"
ARZERRA_DISPLAY = "Arzerra (ofatumumab) injection, for intravenous use"

ROUTE_SC = {"system": SNOMED, "code": "34206005", "display": "Subcutaneous route"}
ROUTE_IV = {"system": SNOMED, "code": "47625008", "display": "Intravenous route"}

# --- Conditions (docs/terminology-sources.md §4; infections are common SNOMED CT disorders)
MS = ("24700007", "Multiple sclerosis (disorder)")
RRMS = ("426373005", "Relapsing remitting multiple sclerosis")
PML = ("22255007", "Progressive multifocal leukoencephalopathy")
PNEUMONIA = ("233604007", "Pneumonia (disorder)")
UTI = ("68566005", "Urinary tract infectious disease (disorder)")
VIRAL_SINUSITIS = ("444814009", "Viral sinusitis (disorder)")
HERPES_ZOSTER = ("4740000", "Herpes zoster (disorder)")
HEPATITIS_B_CHRONIC = ("61977001", "Chronic type B viral hepatitis (disorder)")
ANAPHYLAXIS = ("39579001", "Anaphylaxis (disorder)")

# --- Lab codes (docs/terminology-sources.md §1) -------------------------------------------
HBSAG = ("5196-1", "Hepatitis B virus surface Ag [Presence] in Serum or Plasma by Immunoassay")
ANTI_HBC = ("13952-7", "Hepatitis B virus core Ab [Presence] in Serum or Plasma by Immunoassay")
ANTI_HBC_IGM = (
    "24113-3",
    "Hepatitis B virus core IgM Ab [Presence] in Serum or Plasma by Immunoassay",
)
HBV_DNA = (
    "42595-9",
    "Hepatitis B virus DNA [Units/volume] (viral load) in Serum or Plasma by NAA with probe "
    "detection",
)
IGG = ("2465-3", "IgG [Mass/volume] in Serum or Plasma")
IGM = ("2472-9", "IgM [Mass/volume] in Serum or Plasma")
CBC = ("58410-2", "CBC panel - Blood by Automated count")
WBC = ("6690-2", "Leukocytes [#/volume] in Blood by Automated count")
LYMPHOCYTES = ("731-0", "Lymphocytes [#/volume] in Blood by Automated count")
CD19 = ("8116-6", "CD19 cells [#/volume] in Blood")
HCG_URINE = ("2106-3", "Choriogonadotropin (pregnancy test) [Presence] in Urine")
HCG_SERUM = ("2118-8", "Choriogonadotropin (pregnancy test) [Presence] in Serum or Plasma")
#: Brain MRI. LOINC 24587-8 is "MR Brain WO and W contrast IV"; 24590-2 is plain "MR Brain"
#: (verified in LOINC imaging-document listings; the brief's "24590-2 = WO and W contrast"
#: pairing was wrong). MS monitoring MRIs are usually done with and without contrast.
MRI_BRAIN_WWO = ("24587-8", "MR Brain WO and W contrast IV")
MRI_BRAIN = ("24590-2", "MR Brain")

# Qualitative answers (docs/terminology-sources.md §1d "Qualitative answer codes").
POSITIVE = {"system": SNOMED, "code": "10828004", "display": "Positive (qualifier value)"}
NEGATIVE = {"system": SNOMED, "code": "260385009", "display": "Negative (qualifier value)"}
LOINC_POSITIVE = {"system": LOINC, "code": "LA6576-8", "display": "Positive"}
LOINC_NEGATIVE = {"system": LOINC, "code": "LA6577-6", "display": "Negative"}

# --- Vaccines (docs/terminology-sources.md §3; system http://hl7.org/fhir/sid/cvx) --------
VACCINES: dict[str, tuple[str, str]] = {
    "mmr": ("03", "MMR"),
    "varicella": ("21", "varicella"),
    "yellow-fever": ("37", "yellow fever live"),
    "zoster-unspecified": ("188", "zoster, unspecified formulation"),
    "zoster-recombinant": ("187", "zoster recombinant"),
    "flu": ("150", "Influenza, injectable, quadrivalent, preservative free"),
    "flu-high-dose": ("197", "Influenza, high-dose, quadrivalent"),
    "covid-mrna": ("208", "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose"),
    "tdap": ("115", "Tdap"),
    "pcv20": ("216", "Pneumococcal conjugate PCV20, polysaccharide CRM197, PF"),
    "hepb-adult": ("43", "Hep B, adult"),
    "dtap": ("20", "DTaP"),
}


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    result = {"system": system, "code": code}
    if display:
        result["display"] = display
    return result


def concept(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    return {"coding": [coding(system, code, display)], "text": text or display}


def quantity(value: float, code: str, unit: str | None = None) -> dict[str, Any]:
    """A UCUM quantity; `unit` (the human-readable unit) defaults to the UCUM `code`."""
    return {"value": value, "unit": unit or code, "system": UCUM, "code": code}


def birth_date_for_age(anchor: date, years: int, extra_days: int = 100) -> date:
    """A birth date that makes the patient exactly `years` old on `anchor` (moves with it)."""
    return anchor - timedelta(days=round(years * 365.25) + extra_days)


#: A date in a resource: an offset in days from the anchor, or a literal FHIR date string
#: (partial dates, date-times in a chosen time zone) used as given.
When = int | str


@dataclass
class PatientBuilder:
    """Collects one synthetic patient's resources; ids are `<key>-<kind>-<n>`."""

    key: str
    anchor: date
    #: Time of day and UTC offset used for date-times ("10:30:00", "-05:00").
    time: str = "10:30:00"
    tz: str = "+00:00"
    resources: list[Resource] = field(default_factory=list)
    _counters: Counter[str] = field(default_factory=Counter)

    # --- dates and ids --------------------------------------------------------------
    def day(self, offset: int) -> date:
        return self.anchor + timedelta(days=offset)

    def fhir_date(self, when: When) -> str:
        """A FHIR `date` for an offset, or the literal string."""
        return when if isinstance(when, str) else self.day(when).isoformat()

    def fhir_datetime(self, when: When, time: str | None = None) -> str:
        """A FHIR `dateTime` on the offset's calendar day in the builder's time zone."""
        if isinstance(when, str):
            return when
        return f"{self.day(when).isoformat()}T{time or self.time}{self.tz}"

    def new_id(self, kind: str) -> str:
        self._counters[kind] += 1
        return f"{self.key}-{kind}-{self._counters[kind]}"

    @property
    def subject(self) -> dict[str, str]:
        return {"reference": f"Patient/{self.key}"}

    def add(self, resource: Resource) -> Resource:
        resource.setdefault(
            "meta",
            {
                "security": [coding(ACT_REASON, "HTEST", "test health data")],
                "tag": [coding(DEMO_TAG_SYSTEM, "synthetic", "Synthetic demo data")],
            },
        )
        self.resources.append(resource)
        return resource

    # --- Patient and Conditions -----------------------------------------------------
    def patient(self, given: str, family: str, gender: str, birth_date: date | str) -> Resource:
        return self.add(
            {
                "resourceType": "Patient",
                "id": self.key,
                "active": True,
                "name": [{"use": "official", "family": family, "given": [given]}],
                "gender": gender,
                "birthDate": birth_date if isinstance(birth_date, str) else birth_date.isoformat(),
            }
        )

    def condition(
        self,
        code: tuple[str, str],
        onset: When,
        *,
        clinical: str | None = "active",
        verification: str = "confirmed",
        category: str = "problem-list-item",
        abatement: When | None = None,
        text: str | None = None,
        icd10: tuple[str, str] | None = None,
        note: str | None = None,
    ) -> Resource:
        codings = [coding(SNOMED, *code)]
        if icd10:
            codings.append(coding(ICD10CM, *icd10))
        resource: Resource = {
            "resourceType": "Condition",
            "id": self.new_id("cond"),
            "verificationStatus": concept(
                CONDITION_VERIFICATION, verification, verification.capitalize()
            ),
            "category": [concept(CONDITION_CATEGORY, category, category.replace("-", " "))],
            "code": {"coding": codings, "text": text or code[1]},
            "subject": self.subject,
            "onsetDateTime": self.fhir_date(onset),
            "recordedDate": self.fhir_date(onset),
        }
        if clinical is not None:  # absent: allowed in R4 for encounter diagnoses
            resource["clinicalStatus"] = concept(
                CONDITION_CLINICAL, clinical, clinical.capitalize()
            )
        if abatement is not None:
            resource["abatementDateTime"] = self.fhir_date(abatement)
        if note:
            resource["note"] = [{"text": note}]
        return self.add(resource)

    def ms(self, onset: When, *, relapsing: bool = True, text: str | None = None) -> Resource:
        return self.condition(
            RRMS if relapsing else MS, onset, icd10=("G35", "Multiple sclerosis"), text=text
        )

    # --- Observations ---------------------------------------------------------------
    def _observation(
        self,
        code: tuple[str, str],
        when: When | None,
        *,
        status: str = "final",
        category: str = "laboratory",
        date_element: str = "effectiveDateTime",
        local_code: tuple[str, str] | None = None,
    ) -> Resource:
        codings = [coding(LOINC, *code)]
        if local_code:
            # A lab's own code first, as many EHRs send it; matching must find the LOINC one.
            codings.insert(0, coding(LOCAL_LAB_CODES, *local_code))
        resource: Resource = {
            "resourceType": "Observation",
            "id": self.new_id("obs"),
            "status": status,
            "category": [concept(OBS_CATEGORY, category, category.capitalize())],
            "code": {"coding": codings, "text": code[1]},
            "subject": self.subject,
        }
        if when is None:
            return resource
        if date_element == "issued":
            # Only `issued` (an instant), as some feeds send it.
            resource["issued"] = self.fhir_datetime(when, "16:42:00")
            return resource
        if date_element == "effectivePeriod":
            resource["effectivePeriod"] = {"start": self.fhir_datetime(when, "08:05:00")}
        else:
            resource["effectiveDateTime"] = self.fhir_datetime(when, "08:05:00")
        if not isinstance(when, str):
            resource["issued"] = self.fhir_datetime(when, "16:42:00")
        return resource

    def qualitative(
        self,
        code: tuple[str, str],
        when: When | None,
        result: str,
        *,
        style: str = "concept",
        status: str = "final",
        date_element: str = "effectiveDateTime",
        local_code: tuple[str, str] | None = None,
        note: str | None = None,
    ) -> Resource:
        """A qualitative result. `result`: "positive", "negative" or a raw string.

        `style` varies how it is recorded, as labs do: "concept" (SNOMED answer +
        interpretation), "loinc-answer" (LOINC LA answer code), "string" (valueString words
        such as "Reactive"), "interpretation" (only `interpretation` POS/NEG, no value),
        "raw" (valueString used as given, e.g. "see comment").
        """
        resource = self._observation(
            code, when, status=status, date_element=date_element, local_code=local_code
        )
        positive = result == "positive"
        if style == "raw":
            resource["valueString"] = result
        elif style == "string":
            resource["valueString"] = "Reactive" if positive else "Non-reactive"
        elif style == "interpretation":
            flag = ("POS", "Positive") if positive else ("NEG", "Negative")
            resource["interpretation"] = [concept(INTERPRETATION, *flag)]
        elif style == "loinc-answer":
            answer = LOINC_POSITIVE if positive else LOINC_NEGATIVE
            resource["valueCodeableConcept"] = {"coding": [answer], "text": answer["display"]}
        else:
            answer = POSITIVE if positive else NEGATIVE
            resource["valueCodeableConcept"] = {"coding": [answer], "text": answer["display"]}
            flag = ("POS", "Positive") if positive else ("NEG", "Negative")
            resource["interpretation"] = [concept(INTERPRETATION, *flag)]
        if note:
            resource["note"] = [{"text": note}]
        return self.add(resource)

    def quantitative(
        self,
        code: tuple[str, str],
        when: When | None,
        value: float,
        unit: str,
        *,
        low: float | None = None,
        high: float | None = None,
        status: str = "final",
        comparator: str | None = None,
        date_element: str = "effectiveDateTime",
        note: str | None = None,
        unit_display: str | None = None,
        unitless_range: bool = False,
        interpretation: tuple[str, str] | None = None,
    ) -> Resource:
        """A quantitative result; `unit` is the UCUM code, `unit_display` what the lab prints.
        `unitless_range`: the reference range's low and high carry no unit (as some feeds
        send them); `interpretation`: an explicit flag (code, display)."""
        resource = self._observation(code, when, status=status, date_element=date_element)
        value_q = quantity(value, unit, unit_display)
        if comparator:
            value_q["comparator"] = comparator
        resource["valueQuantity"] = value_q
        if low is not None or high is not None:
            reference: dict[str, Any] = {}
            if low is not None:
                reference["low"] = (
                    {"value": low} if unitless_range else quantity(low, unit, unit_display)
                )
            if high is not None:
                reference["high"] = (
                    {"value": high} if unitless_range else quantity(high, unit, unit_display)
                )
            resource["referenceRange"] = [reference]
            if low is not None and value < low and not comparator:
                resource["interpretation"] = [concept(INTERPRETATION, "L", "Low")]
        if interpretation is not None:
            resource["interpretation"] = [concept(INTERPRETATION, *interpretation)]
        if note:
            resource["note"] = [{"text": note}]
        return self.add(resource)

    def igg(self, when: When, mg_dl: float, *, unit: str = "mg/dL", **kwargs: Any) -> Resource:
        """IgG given in mg/dL, recorded in `unit` (mg/dL, g/L or g/dL) with its reference range."""
        return self._immunoglobulin(IGG, when, mg_dl, unit, (700, 1600), **kwargs)

    def igm(self, when: When, mg_dl: float, *, unit: str = "mg/dL", **kwargs: Any) -> Resource:
        return self._immunoglobulin(IGM, when, mg_dl, unit, (40, 230), **kwargs)

    def _immunoglobulin(
        self,
        code: tuple[str, str],
        when: When,
        mg_dl: float,
        unit: str,
        range_mg_dl: tuple[float, float],
        **kwargs: Any,
    ) -> Resource:
        """A level given in mg/dL, recorded in `unit` with its reference range (also mg/dL)."""
        factor = {"mg/dL": 1.0, "g/L": 0.01, "g/dL": 0.001, "mg/L": 10.0}[unit]
        low, high = range_mg_dl
        return self.quantitative(
            code,
            when,
            _round(mg_dl * factor),
            unit,
            low=_round(low * factor),
            high=_round(high * factor),
            **kwargs,
        )

    def cbc(
        self, when: When, *, wbc: float = 6.2, lymphocytes: float = 1.8, **kwargs: Any
    ) -> Resource:
        """A CBC panel whose members are the WBC and absolute lymphocyte count."""
        members = [
            self.quantitative(WBC, when, wbc, "10*3/uL", low=4.0, high=11.0),
            self.quantitative(LYMPHOCYTES, when, lymphocytes, "10*3/uL", low=1.0, high=4.8),
        ]
        panel = self._observation(CBC, when, **kwargs)
        panel["hasMember"] = [{"reference": f"Observation/{m['id']}"} for m in members]
        return self.add(panel)

    def hbv_baseline(
        self, when: When, *, hbsag: str = "negative", anti_hbc: str = "negative"
    ) -> None:
        self.qualitative(HBSAG, when, hbsag)
        self.qualitative(ANTI_HBC, when, anti_hbc)

    # --- Medications ----------------------------------------------------------------
    def kesimpta_medication(self, *, ndc: str = KESIMPTA_NDC_PACKAGE) -> Resource:
        """A stand-alone Medication resource for Kesimpta (for medicationReference)."""
        return self.add(_kesimpta_medication(self.new_id("med"), ndc))

    def medication_request(
        self,
        authored: When,
        *,
        start: When | None = None,
        status: str = "active",
        medication: Resource | None = None,
        end: When | None = None,
    ) -> Resource:
        resource: Resource = {
            "resourceType": "MedicationRequest",
            "id": self.new_id("mrq"),
            "status": status,
            "intent": "order",
            "subject": self.subject,
            "authoredOn": self.fhir_date(authored),
        }
        if medication is not None:
            resource["medicationReference"] = {
                "reference": f"Medication/{medication['id']}",
                "display": "Kesimpta",
            }
        else:
            resource["medicationCodeableConcept"] = _kesimpta_concept()
        dosage: dict[str, Any] = {
            "text": "20 mg subcutaneously at weeks 0, 1 and 2, then every 4 weeks from week 4",
            "route": {"coding": [ROUTE_SC], "text": "Subcutaneous"},
            "doseAndRate": [{"doseQuantity": quantity(20, "mg")}],
        }
        if start is not None:
            dosage["timing"] = {"repeat": {"boundsPeriod": {"start": self.fhir_date(start)}}}
            resource["dispenseRequest"] = {"validityPeriod": {"start": self.fhir_date(start)}}
        if end is not None:
            validity = resource.setdefault("dispenseRequest", {}).setdefault("validityPeriod", {})
            validity["end"] = self.fhir_date(end)
        resource["dosageInstruction"] = [dosage]
        return self.add(resource)

    def kesimpta_dose(
        self,
        when: When,
        *,
        style: str = "reference",
        medication: Resource | None = None,
        dose_mg: float = 20,
        status: str = "completed",
        request: Resource | None = None,
        ndc: str = KESIMPTA_NDC_PACKAGE,
    ) -> Resource:
        """A Kesimpta MedicationAdministration.

        `style`: "reference" (medicationReference to `medication`), "contained" (a contained
        Medication) or "atc" (medicationCodeableConcept with ATC L04AG12).
        """
        resource = self._kesimpta_event(
            "MedicationAdministration", "mad", status, style, medication, ndc
        )
        resource["effectiveDateTime"] = self.fhir_datetime(when)
        if request is not None:
            resource["request"] = {"reference": f"MedicationRequest/{request['id']}"}
        resource["dosage"] = {
            "text": f"{dose_mg:g} mg subcutaneously",
            "route": {"coding": [ROUTE_SC], "text": "Subcutaneous"},
            "dose": quantity(dose_mg, "mg"),
        }
        return self.add(resource)

    def _kesimpta_event(
        self,
        resource_type: str,
        id_prefix: str,
        status: str,
        style: str,
        medication: Resource | None,
        ndc: str,
    ) -> Resource:
        """What a Kesimpta administration and dispense both start with: id, status, the
        medication (as `style` says) and the patient."""
        resource: Resource = {
            "resourceType": resource_type,
            "id": self.new_id(id_prefix),
            "status": status,
        }
        _medication_element(resource, style, medication, ndc)
        resource["subject"] = self.subject
        return resource

    def kesimpta_dispense(
        self,
        when: When,
        *,
        pens: int | None = 1,
        amount: dict[str, Any] | None = None,
        style: str = "reference",
        medication: Resource | None = None,
        request: Resource | None = None,
        status: str = "completed",
        ndc: str = KESIMPTA_NDC_PACKAGE,
    ) -> Resource:
        """A Kesimpta MedicationDispense from the specialty pharmacy: `pens` pens (None: no
        quantity recorded), or `amount` as the quantity (e.g. mL) when given."""
        resource = self._kesimpta_event("MedicationDispense", "mdp", status, style, medication, ndc)
        if request is not None:
            resource["authorizingPrescription"] = [
                {"reference": f"MedicationRequest/{request['id']}"}
            ]
        if amount is not None:
            resource["quantity"] = amount
        elif pens is not None:
            resource["quantity"] = {"value": pens, "unit": "pen", "system": UCUM, "code": "{pen}"}
            resource["daysSupply"] = {
                "value": 28 * pens,
                "unit": "day",
                "system": UCUM,
                "code": "d",
            }
        resource["whenHandedOver"] = self.fhir_datetime(when, "15:10:00")
        resource["dosageInstruction"] = [
            {
                "text": "20 mg (one pen) subcutaneously as scheduled",
                "route": {"coding": [ROUTE_SC], "text": "Subcutaneous"},
                "doseAndRate": [{"doseQuantity": quantity(20, "mg")}],
            }
        ]
        return self.add(resource)

    def kesimpta_statement(
        self,
        start: When | None,
        *,
        status: str = "active",
        end: When | None = None,
        asserted: When | None = None,
    ) -> Resource:
        """The patient's own report of Kesimpta (a MedicationStatement), effective from
        `start` (to `end`), asserted on `asserted`."""
        resource: Resource = {
            "resourceType": "MedicationStatement",
            "id": self.new_id("mst"),
            "status": status,
            "medicationCodeableConcept": _kesimpta_concept(),
            "subject": self.subject,
        }
        period: dict[str, str] = {}
        if start is not None:
            period["start"] = self.fhir_date(start)
        if end is not None:
            period["end"] = self.fhir_date(end)
        if period:
            resource["effectivePeriod"] = period
        if asserted is not None:
            resource["dateAsserted"] = self.fhir_datetime(asserted, "10:00:00")
        resource["informationSource"] = self.subject
        resource["dosage"] = [
            {
                "text": "20 mg subcutaneously every 4 weeks, self-injected",
                "route": {"coding": [ROUTE_SC], "text": "Subcutaneous"},
            }
        ]
        return self.add(resource)

    def arzerra_infusion(self, when: When, *, dose_mg: float = 300) -> Resource:
        """IV ofatumumab for CLL (Arzerra): the same molecule, never a Kesimpta dose."""
        medication = {
            "resourceType": "Medication",
            "id": "arzerra",
            "code": {
                "coding": [
                    coding(NDC, ARZERRA_NDC_PACKAGE, ARZERRA_DISPLAY),
                    coding(ATC, ARZERRA_ATC, "ofatumumab"),
                ],
                "text": "Arzerra (ofatumumab) 20 mg/mL vial",
            },
            "form": {"text": "Solution for injection, 20 mg/mL vial"},
        }
        return self.add(
            {
                "resourceType": "MedicationAdministration",
                "id": self.new_id("mad"),
                "status": "completed",
                "contained": [medication],
                "medicationReference": {"reference": "#arzerra", "display": "Arzerra"},
                "subject": self.subject,
                "effectivePeriod": {
                    "start": self.fhir_datetime(when, "09:00:00"),
                    "end": self.fhir_datetime(when, "13:30:00"),
                },
                "dosage": {
                    "text": f"{dose_mg:g} mg IV infusion",
                    "route": {"coding": [ROUTE_IV], "text": "Intravenous"},
                    "dose": quantity(dose_mg, "mg"),
                },
            }
        )

    # --- Immunizations, allergies, imaging ------------------------------------------
    def immunization(
        self,
        vaccine: str,
        when: When | None,
        *,
        occurrence_string: str | None = None,
        status: str = "completed",
    ) -> Resource:
        cvx, display = VACCINES[vaccine]
        resource: Resource = {
            "resourceType": "Immunization",
            "id": self.new_id("imm"),
            "status": status,
            "vaccineCode": concept(CVX, cvx, display),
            "patient": self.subject,
        }
        if when is not None:
            resource["occurrenceDateTime"] = self.fhir_datetime(when, "11:20:00")
        else:
            resource["occurrenceString"] = occurrence_string or "unknown date"
        resource["primarySource"] = when is not None
        return self.add(resource)

    def kesimpta_allergy(
        self, recorded: When, *, reaction_onset: When | None = None, clinical: str = "active"
    ) -> Resource:
        """A confirmed allergy to Kesimpta (ofatumumab): anaphylaxis, severe, high criticality."""
        resource: Resource = {
            "resourceType": "AllergyIntolerance",
            "id": self.new_id("alg"),
            "clinicalStatus": concept(ALLERGY_CLINICAL, clinical, clinical.capitalize()),
            "verificationStatus": concept(ALLERGY_VERIFICATION, "confirmed", "Confirmed"),
            "type": "allergy",
            "category": ["medication"],
            "criticality": "high",
            "code": {
                "coding": [
                    coding(ATC, KESIMPTA_ATC, "ofatumumab"),
                    coding(NDC, KESIMPTA_NDC_PACKAGE, KESIMPTA_DISPLAY),
                ],
                "text": "Kesimpta (ofatumumab)",
            },
            "patient": self.subject,
            "recordedDate": self.fhir_date(recorded),
            "reaction": [
                {
                    "manifestation": [concept(SNOMED, *ANAPHYLAXIS)],
                    "description": "Anaphylaxis within 1 hour of a Kesimpta injection",
                    "severity": "severe",
                    "onset": self.fhir_datetime(
                        reaction_onset if reaction_onset is not None else recorded
                    ),
                }
            ],
        }
        return self.add(resource)

    def brain_mri(
        self, when: When, *, code: tuple[str, str] = MRI_BRAIN_WWO, conclusion: str | None = None
    ) -> Resource:
        return self.add(
            {
                "resourceType": "DiagnosticReport",
                "id": self.new_id("dr"),
                "status": "final",
                "category": [concept(DIAGNOSTIC_SERVICE, "RAD", "Radiology")],
                "code": concept(LOINC, *code),
                "subject": self.subject,
                "effectiveDateTime": self.fhir_datetime(when, "14:00:00"),
                "issued": self.fhir_datetime(when, "18:30:00"),
                "conclusion": conclusion
                or "Stable T2/FLAIR white matter lesions; no new or enhancing lesions.",
            }
        )


def _round(value: float) -> float:
    rounded = round(value, 3)
    return int(rounded) if float(rounded).is_integer() else rounded


def _medication_element(
    resource: Resource, style: str, medication: Resource | None, ndc: str
) -> None:
    """The Kesimpta medication of an administration or dispense, in one of four styles:
    "reference" (medicationReference to `medication`), "contained" (a contained Medication),
    "atc" (medicationCodeableConcept with ATC L04AG12) or "text" (the brand word only)."""
    if style == "contained":
        resource["contained"] = [_kesimpta_medication("kesimpta", ndc)]
        resource["medicationReference"] = {"reference": "#kesimpta", "display": "Kesimpta"}
    elif style == "reference":
        if medication is None:
            raise ValueError("a 'reference' style record needs the Medication resource")
        resource["medicationReference"] = {
            "reference": f"Medication/{medication['id']}",
            "display": "Kesimpta",
        }
    elif style == "atc":
        resource["medicationCodeableConcept"] = _kesimpta_concept()
    elif style == "text":
        # No code at all: the brand word alone identifies the product (SPEC §2).
        resource["medicationCodeableConcept"] = {"text": "Kesimpta Sensoready pen"}
    else:
        raise ValueError(f"unknown medication style {style!r}")


def _kesimpta_concept() -> dict[str, Any]:
    return {
        "coding": [coding(ATC, KESIMPTA_ATC, "ofatumumab")],
        "text": "Kesimpta 20 mg/0.4 mL pen",
    }


def _kesimpta_medication(resource_id: str, ndc: str) -> Resource:
    return {
        "resourceType": "Medication",
        "id": resource_id,
        "code": {
            "coding": [coding(NDC, ndc, KESIMPTA_DISPLAY), coding(ATC, KESIMPTA_ATC, "ofatumumab")],
            "text": "Kesimpta 20 mg/0.4 mL Sensoready Pen",
        },
        "form": {"text": "Solution for injection in pre-filled pen"},
        "ingredient": [
            {
                "itemCodeableConcept": {
                    "coding": [coding(ATC, KESIMPTA_ATC, "ofatumumab")],
                    "text": "ofatumumab",
                },
                "isActive": True,
                "strength": {"numerator": quantity(20, "mg"), "denominator": quantity(0.4, "mL")},
            }
        ],
    }
