"""The synthetic demo cohort (one patient per situation) and a generator for large cohorts.

demo_bundles(anchor)                      transaction Bundles for `smartapp seed`
demo_patient_resources(anchor, slug)      plain resources for `smartapp check --demo`
demo_collection_bundle(anchor, slug)      a collection Bundle file
generate_cohort(n, anchor, seed=0)        random patients for benchmarks
seed(client, bundles)                     post them, count created/updated
"""

from smartapp.demo.bundles import (
    DEMO_SYSTEM,
    demo_bundles,
    demo_collection_bundle,
    demo_patient_resources,
    demo_system,
    demo_transaction_bundle,
)
from smartapp.demo.cohort import CHECK_IDS, Situation
from smartapp.demo.generator import (
    generate_cohort,
    generate_cohort_resources,
    generate_patient_resources,
)
from smartapp.demo.seed import SeedReport, seed
from smartapp.demo.situations import DEMO_SLUGS, SITUATIONS

__all__ = [
    "CHECK_IDS",
    "DEMO_SLUGS",
    "DEMO_SYSTEM",
    "SITUATIONS",
    "SeedReport",
    "Situation",
    "demo_bundles",
    "demo_collection_bundle",
    "demo_patient_resources",
    "demo_system",
    "demo_transaction_bundle",
    "generate_cohort",
    "generate_cohort_resources",
    "generate_patient_resources",
    "seed",
]
