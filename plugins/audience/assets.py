"""The Airflow Assets that chain the DAGs: each names a table (or a verdict) in the warehouse."""

from __future__ import annotations

from airflow.sdk import Asset


def warehouse_asset(schema: str, table: str) -> Asset:
    return Asset(name=f"{schema}.{table}", uri=f"warehouse://{schema}/{table}", group="warehouse")


def raw_asset(table: str) -> Asset:
    return warehouse_asset("raw", table)


RAW_HUBSPOT_CONTACTS = raw_asset("hubspot__contacts")
RAW_SALESFORCE_CONTACTS = raw_asset("salesforce__contacts")
RAW_FILES_CONTACTS = raw_asset("files__contacts")
RAW_WEB_EVENTS = raw_asset("web_events__events")
RAW_FACEBOOK_COMMENTS = raw_asset("facebook__comments")
RAW_INSEE_COMMUNES = raw_asset("insee__communes")
ML_PSYCHOGRAPHIC = warehouse_asset("ml", "author_clusters")
ML_PROPENSITY = warehouse_asset("ml", "propensity_scores")
AUDIENCE_MEMBERS = warehouse_asset("marts", "audience_members")
# emitted only by a passing quality gate; the sync DAG is scheduled on it
SEGMENTS_VALIDATED = Asset(name="segments_validated", uri="audience://segments/validated", group="audience")
