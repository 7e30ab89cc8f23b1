"""Every feed of the catalogue has a loader with the connector contract, and its own raw table."""

from __future__ import annotations

import inspect

from audience.sources.catalog import FEEDS, by_task_id, feeds


def test_every_feed_has_a_loader_with_the_common_signature():
    for feed in FEEDS:
        loader = feed.loader()
        params = inspect.signature(loader).parameters
        assert list(params)[0] == "conn", feed
        for name in ("full_refresh", "since", "settings"):
            assert name in params and params[name].kind is inspect.Parameter.KEYWORD_ONLY, (feed, name)


def test_raw_tables_and_task_ids_are_unique():
    assert len({f.raw_table for f in FEEDS}) == len(FEEDS)
    assert len({f.task_id for f in FEEDS}) == len(FEEDS)
    assert by_task_id("hubspot__contacts").raw_table == "hubspot__contacts"


def test_every_family_has_feeds():
    for family in ("ingest_crm", "ingest_web_events", "ingest_social", "ingest_open_data"):
        assert feeds(family), family
