"""The boundary with FHIR (ARCHITECTURE.md): nothing outside this package knows a code.

Read side: `bundle.resources_from_json` flattens any Bundle; `read.read_patient_record`
builds the domain records (`records`) with the value sets in force (`site.load_mappings`:
the shipped `valuesets/*.json` plus a site file); `queries.patient_searches` lists the FHIR
searches for one patient. Write side: `write*` modules. The app's canonical base and its
action CodeSystem: `canonical`, `codesystems/actions.json`.
"""
