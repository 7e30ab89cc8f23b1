"""
### Ingest social

Loads the brand's social accounts into `raw`, daily: Facebook page posts and
their comments (author, text, time; cursor paging, since the last run) and ad
insights broken down by age × gender and by region, through the
`facebook-business` SDK; LinkedIn organisation post comments and follower
statistics by region, seniority and industry (versioned REST API). Facebook's
tasks run in turn, and so do LinkedIn's (one API's feeds share its rate limit);
the two platforms run side by side.

Comment authors are names (PII): they stay in the warehouse; logs and XComs
carry counts only. Connections: `facebook_graph` (extra `page_id`,
`ad_account_id`), `linkedin` (extra `organization_id`, `api_version`); absent →
the sandbox. Params: `full_refresh`, `since` (ISO date).
"""

from __future__ import annotations

# the airflow DAG is built by the shared ingest shape: one task per feed of this family
from audience.ingest_dags import ingest_dag

dag = ingest_dag("ingest_social", schedule="@daily", tags=["social", "facebook", "linkedin"], doc_md=__doc__)
