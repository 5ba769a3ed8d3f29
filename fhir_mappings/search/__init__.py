"""The FHIR searches the app asks: one patient's batch read (`queries`), the worklist
population and its bulk read (`population`)."""
