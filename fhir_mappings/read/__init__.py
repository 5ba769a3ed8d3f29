"""FHIR JSON -> domain records: one reader per kind of resource, and
`record.read_patient_record` for a whole patient."""
