"""The domain: what the app knows about a patient and what its checks conclude.

`records` are the patient's data with no FHIR JSON left in them (built by `fhir_mappings`);
`findings` are what the rules produce (findings, schedule, therapy course, summary). Both
`fhir_mappings` and `smartapp` depend on this package; it depends on neither.
"""
