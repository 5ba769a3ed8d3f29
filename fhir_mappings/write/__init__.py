"""Domain -> the FHIR JSON the app writes: the write-back transaction (CarePlan, Tasks,
Provenance), and the override reasons CDS cards offer."""
