"""Every feed the platform ingests: which DAG loads it, which loader, which raw table.

The ingest DAGs build one task per feed from this list, each publishing the
Asset of the raw table it feeds; adding a feed here adds its task.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CRM = "ingest_crm"
WEB = "ingest_web_events"
SOCIAL = "ingest_social"
OPEN_DATA = "ingest_open_data"
# sources whose feeds share one rate limit (HubSpot search ~5 requests/s per app, LinkedIn 600
# calls/minute, the Graph API's app usage, INSEE 30 requests/minute...): their feeds run in turn,
# since side by side they only answer each other's 429s. A feed of any other source (a file drop,
# the pixel export) is a task that may run beside any other.
SHARED_RATE_LIMIT_SOURCES = frozenset(
    {"hubspot", "salesforce", "facebook_pages", "linkedin", "insee", "eurostat"}
)
# added to a paced feed's priority weight: more than all the weights together, so that a chain with
# a paced feed outranks any chain without one (a test checks the margin)
PACED_PRIORITY = 1000


@dataclass(frozen=True)
class Feed:
    family: str  # the DAG that loads it
    module: str  # audience.sources.<module>
    entity: str  # its function load_<entity>
    raw_table: str  # raw.<source>__<entity>
    record_index: bool = True  # index (_record_id, _updated_at): not for tables only dbt reads, whole
    # how long its load takes, relative to the others: its seconds in the benchmark's 1M-contact
    # ingest (README, Benchmark), at least 1. Heavier chains start first (``task_chains``; the
    # DAGs' priority weights), so that a long one does not start last and run on alone
    weight: int = 1
    # its load is paced by the source's rate limit: most of its time is spent waiting, not
    # computing. A chain with such a feed starts before every other (see ``priority``), so that its
    # waiting overlaps the other feeds' work instead of ending the ingest with a core idle
    paced: bool = False

    @property
    def task_id(self) -> str:
        return f"{self.module}__{self.entity}"

    @property
    def priority(self) -> int:
        """Its task's priority weight: its weight, plus :data:`PACED_PRIORITY` when it is paced."""
        return self.weight + (PACED_PRIORITY if self.paced else 0)

    def loader(self) -> Callable[..., Any]:
        module = importlib.import_module(f"audience.sources.{self.module}")
        return getattr(module, f"load_{self.entity}")


FEEDS: tuple[Feed, ...] = (
    Feed(CRM, "hubspot", "contacts", "hubspot__contacts", weight=90),
    Feed(CRM, "hubspot", "deals", "hubspot__deals", weight=22),
    Feed(CRM, "salesforce", "contacts", "salesforce__contacts", weight=18),
    Feed(CRM, "salesforce", "leads", "salesforce__leads", weight=7),
    Feed(CRM, "salesforce", "opportunities", "salesforce__opportunities", weight=9),
    Feed(CRM, "files", "contacts", "files__contacts", record_index=False, weight=3),
    Feed(CRM, "files", "orders", "files__orders", record_index=False, weight=4),
    Feed(WEB, "web_events", "events", "web_events__events", weight=126),
    Feed(SOCIAL, "facebook_pages", "posts", "facebook__posts", weight=26),
    Feed(SOCIAL, "facebook_pages", "comments", "facebook__comments", weight=49),
    Feed(SOCIAL, "facebook_pages", "ad_insights", "facebook__ad_insights"),
    # LinkedIn allows 600 calls a minute: the 1M world's 1,164 comment pages take over a minute
    # whatever the machine, most of it waiting (started first: ingest at 1M 186.0 -> 171.3 s,
    # README, Benchmark)
    Feed(SOCIAL, "linkedin", "comments", "linkedin__comments", weight=68, paced=True),
    Feed(SOCIAL, "linkedin", "follower_statistics", "linkedin__follower_statistics"),
    Feed(OPEN_DATA, "insee", "regions", "insee__regions"),
    Feed(OPEN_DATA, "insee", "departements", "insee__departements"),
    Feed(OPEN_DATA, "insee", "communes", "insee__communes"),
    Feed(OPEN_DATA, "insee", "postal_codes", "insee__postal_codes"),
    Feed(OPEN_DATA, "insee", "population", "insee__population"),
    Feed(OPEN_DATA, "insee", "income", "insee__income"),
    Feed(OPEN_DATA, "eurostat", "population_nuts3", "eurostat__population_nuts3"),
    Feed(OPEN_DATA, "eurostat", "household_income_nuts2", "eurostat__household_income_nuts2"),
    Feed(OPEN_DATA, "eurostat", "unemployment_nuts2", "eurostat__unemployment_nuts2"),
)


def feeds(family: str) -> tuple[Feed, ...]:
    return tuple(f for f in FEEDS if f.family == family)


def task_chains(family: str | None = None) -> list[tuple[Feed, ...]]:
    """The ingest tasks (of ``family``'s DAG, or all) as a scheduler may run them: chains that may run
    side by side, each run in order; the ingest DAGs wire each chain ``a >> b``.

    The feeds of a source of :data:`SHARED_RATE_LIMIT_SOURCES` form one chain; any other feed is a
    chain of its own. Catalogue order within a chain; the chain of highest ``priority`` (the sum of
    its feeds') first, ties in catalogue order: with fewer task slots than chains, a chain paced by
    a rate limit starts at once, then the longest, and the short ones fill the slots that free up
    (the scheduler does the same from the tasks' priority weights, see ``ingest_dags``).
    """
    chains: dict[tuple[str, str], list[Feed]] = {}
    for feed in FEEDS if family is None else feeds(family):
        shared = feed.module in SHARED_RATE_LIMIT_SOURCES
        key = (feed.family, feed.module) if shared else (feed.family, feed.task_id)
        chains.setdefault(key, []).append(feed)
    return sorted((tuple(chain) for chain in chains.values()), key=lambda c: -sum(f.priority for f in c))


def by_task_id(task_id: str) -> Feed:
    for feed in FEEDS:
        if feed.task_id == task_id:
            return feed
    raise KeyError(f"no feed {task_id!r}; known: {[f.task_id for f in FEEDS]}")
