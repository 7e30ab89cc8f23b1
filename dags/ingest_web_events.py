"""
### Ingest web events

Loads the website pixel's event files (JSON lines partitioned by day,
`dt=YYYY-MM-DD/*.jsonl`: PageView, ViewContent, AddToCart, InitiateCheckout,
Purchase, CartAbandon) into `raw.web_events__events`. Only new files, or the
new part of a file that grew, are read; duplicate `event_id`s are dropped
(within a file, across files and against what is loaded); broken lines land in
`raw.rejects` with their file and line number.

Connection: `web_events` (extra `path`: the folder holding the partitions);
absent → the sandbox world's events. Params: `full_refresh` re-reads every
file (still loading nothing twice), `since` (YYYY-MM-DD) limits the run to
partitions from that day on.
"""

from __future__ import annotations

# the airflow DAG is built by the shared ingest shape: one task per feed of this family
from audience.ingest_dags import ingest_dag

dag = ingest_dag(
    "ingest_web_events",
    schedule="@hourly",
    tags=["web"],
    doc_md=__doc__,
    since_help="Only partitions from this day on (YYYY-MM-DD).",
)
