"""
### Ingest open data

Monthly full refresh of French and EU open data, each load a complete new
batch (staging reads a table's latest batch):

- INSEE geography (Métadonnées geo): régions, départements, communes, and La
  Poste's postal codes ↔ communes file; INSEE Melodi: population by age and sex
  and median standard of living (Filosofi) per commune. Melodi allows 30
  requests a minute: the client keeps to it and the INSEE tasks run one at a time.
- Eurostat (JSON-stat 2.0): NUTS-3 population by age and sex, NUTS-2
  household income and unemployment.

Postal code → commune → département → région → NUTS-3 is resolvable from these
tables. Licences: Licence Ouverte / Etalab 2.0 (INSEE, La Poste); Eurostat
reuse with acknowledgement of the source. Connections `insee`, `eurostat`
(base URLs, no key); absent → the sandbox. Params: `full_refresh`, `since`
(INSEE geography reference date / Eurostat first year).
"""

from __future__ import annotations

# the airflow DAG is built by the shared ingest shape: one task per feed of this family
from audience.ingest_dags import ingest_dag

dag = ingest_dag(
    "ingest_open_data",
    schedule="@monthly",
    tags=["open-data", "insee", "eurostat"],
    doc_md=__doc__,
    since_help="INSEE geography reference date (YYYY-MM-DD) / Eurostat first year; empty = defaults.",
)
