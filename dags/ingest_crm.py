"""
### Ingest CRM

Loads the CRM into `raw`: HubSpot contacts and deals (`lastmodifieddate`
watermark, paging past the 10,000-per-query search cap by moving the
watermark), Salesforce contacts, leads and opportunities (`SystemModstamp`
watermark), and the CRM file drop (CSV/Parquet contacts and orders, each new
file once). One task per feed, each a COPY in one transaction with its
watermark in `ops.ingest_state`; malformed records land in `raw.rejects`.
HubSpot's tasks run in turn, and so do Salesforce's: one API's feeds share its
rate limit. The two sources and the file drop run side by side.

Connections: `hubspot`, `salesforce`, `crm_files`; absent → the sandbox.
Params: `full_refresh` reloads everything, `since` (ISO date) overrides the
watermark for one run. Each task publishes the Asset of its raw table;
`raw.hubspot__contacts` schedules `build_segments`.
"""

from __future__ import annotations

# the airflow DAG is built by the shared ingest shape: one task per feed of this family
from audience.ingest_dags import ingest_dag

dag = ingest_dag("ingest_crm", schedule="@hourly", tags=["crm"], doc_md=__doc__)
