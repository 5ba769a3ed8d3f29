"""The app's own CodeSystem resources (FHIR JSON); loaded by `fhir_mappings.terminology`."""
