"""SMART App Launch 2.x client: discovery, EHR/standalone launch, tokens, backend services.

Knows OAuth and nothing of the rules. Entry points for other rooms:
`smartapp.launch.context` (`current_context`, `require_context`, `fhir_client_for`) and
`smartapp.launch.backend` (`fetch_backend_token`, `BackendTokenProvider`).
"""
