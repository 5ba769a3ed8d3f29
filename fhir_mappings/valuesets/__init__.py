"""Value sets as data files (one JSON file per concept); loaded by `fhir_mappings.terminology`."""
