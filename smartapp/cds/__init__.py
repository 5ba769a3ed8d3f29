"""CDS Hooks 2.0 services: the app's checks as cards inside the EHR (SPEC §4 `/cds-services`).

The same read → rules path as the dashboard (`smartapp.patient_service`), cards instead of
a page. Modules, one job each:
    services     the three services and the discovery document
    prefetch     prefetch templates (= the dashboard's batch read) and reading the prefetch
    request      checking a hook call's body
    read         the patient's data: prefetch + at most one batch read of what is missing
    hooks        which findings become cards at which hook
    cards        finding → card (indicator, markdown detail, evidence, citation, links)
    suggestions  the follow-up Task (write-back identifiers) and removing a draft order
    auth         the CDS client's JWT: keys, signature, aud/exp/iat/jti, replay
    clients      SMARTAPP_CDS_CLIENTS: who may call which service
    feedback     feedback outcomes, their storage interface and the report
    views        the Flask blueprint (CORS included)
"""
