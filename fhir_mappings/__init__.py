"""The boundary with FHIR (ARCHITECTURE.md): nothing outside this package knows a code.

- `read/`: FHIR JSON -> domain records. `read.bundle.resources_from_json` flattens any
  Bundle; `read.record.read_patient_record` builds the records with the value sets in force
  (`site.load_mappings`: the shipped `valuesets/*.json` plus a site file).
- `search/`: the FHIR searches (`search.queries` for one patient, `search.population` for
  the worklist).
- `write/`: domain -> the write-back transaction (CarePlan, Tasks, Provenance).
- Shared by all three (top level): checked JSON access (`fhirjson`), dates, ids, code
  systems and value sets (`systems`, `terminology`, `site`), UCUM, errors, memoising, names,
  the app's canonical base and its action CodeSystem (`canonical`, `codesystems/`).
"""
