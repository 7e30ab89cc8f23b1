"""Purchase propensity: who is likely to buy on the website in the next 30 days.

A gradient-boosted classifier (scikit-learn ``HistGradientBoostingClassifier``) on each HubSpot
contact's recent web behaviour. Runs as a Python task before dbt; dbt reads its output
(``ml.propensity_scores``) as a source and maps contacts to persons (``person_propensity``).

Time design (``as_of`` = the end of the data the run may use, midnight UTC):

- features at a cutoff T use only events in the ``lookback_days`` (30) before T, and a browser's
  anonymous events are attributed to a contact only if it was identified before T (no future
  information);
- the label at T is "a Purchase event in [T, T + horizon_days)" (30 days);
- the model is trained at T = as_of - 60 d and evaluated on the held-out later period
  T = as_of - 30 d (the AUC recorded in ``ml.model_runs.auc_holdout``); it is then refitted on
  both periods and scores every contact with features at T = as_of.

Everything heavy happens in PostgreSQL: events are never read into Python, only one aggregated
row per contact and cutoff (scores are written back with COPY, in batches).

Tables: ``ml.model_runs`` keeps every run (its held-out AUC, sizes, parameters and features);
``ml.propensity_scores`` holds only the latest run's scores. The run id is a digest of as_of,
the parameters and the training data: a re-run on unchanged data writes the same run and
the same scores (fixed ``random_state``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from audience.ml import limited_threads, threads

log = logging.getLogger(__name__)

MODEL = "purchase_propensity_hgb"
VERSION = 1

DDL = """
create table if not exists ml.model_runs (
    run_id       text primary key,
    model        text not null,
    trained_at   timestamptz not null,
    as_of        date not null,
    auc_holdout  double precision,
    n_train      integer not null,
    n_test       integer not null,
    positives    integer not null,
    params       jsonb not null,
    features     text[] not null
);
create table if not exists ml.propensity_scores (
    run_id              text not null,
    contact_id          text not null,
    purchase_propensity double precision not null,
    scored_at           timestamptz not null,
    primary key (run_id, contact_id)
);
"""

EVENT_NAMES = ("PageView", "ViewContent", "AddToCart", "InitiateCheckout", "Purchase", "CartAbandon")
WINDOWS = (7, 30)

# one aggregated column per feature, in this order (the model's columns)
FEATURES: tuple[str, ...] = (
    *(f"n_{name.lower()}_{days}d" for days in WINDOWS for name in EVENT_NAMES),
    "active_days_30d",
    "days_since_last_event",
    "days_since_last_purchase",
    "purchase_value_30d",
    "cart_value_30d",
    # CRM, as known at the cutoff (a version or deal changed later is not used)
    "lifecycle_stage_rank",
    "days_since_created",
    "deals_created",
    "deals_won",
    "deals_won_amount",
)
EVENT_FEATURES = 17  # the first 17 come from web events, the rest from the CRM

# HubSpot lifecycle stages in funnel order (rank 0..6); 'other' and unknown stages are -1, as is
# days_since_created for a contact not in HubSpot (a constant, so that a column is never all missing)
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
)

DEFAULT_PARAMS: dict[str, Any] = {
    "lookback_days": 30,
    "horizon_days": 30,
    # small trees, many samples per leaf: a few thousand contacts, a noisy label
    "learning_rate": 0.05,
    "max_iter": 100,
    "max_leaf_nodes": 7,
    "min_samples_leaf": 80,
    "l2_regularization": 1.0,
    "random_state": 0,
}
SCORE_BATCH = 20_000


class PropensityError(RuntimeError):
    """The model cannot be trained or evaluated on the data in the warehouse."""


def _feature_columns(lookback: int) -> str:
    cols = []
    for days in WINDOWS:
        for name in EVENT_NAMES:
            cols.append(
                f"count(*) filter (where event_name = '{name}' and event_at >= %(cutoff)s - interval '{days} days')"
            )
    cols += [
        "count(distinct (event_at at time zone 'UTC')::date)",
        f"coalesce(extract(epoch from %(cutoff)s - max(event_at)) / 86400.0, {lookback + 1})",
        "coalesce(extract(epoch from %(cutoff)s - max(event_at) filter (where event_name = 'Purchase'))"
        f" / 86400.0, {lookback + 1})",
        "coalesce(sum(value) filter (where event_name = 'Purchase'), 0)",
        "coalesce(sum(value) filter (where event_name = 'AddToCart'), 0)",
    ]
    names = FEATURES[:EVENT_FEATURES]
    assert len(cols) == len(names)
    return ",\n".join(f"{c}::double precision as {n}" for c, n in zip(cols, names, strict=True))


def _snapshot_sql(lookback: int, *, with_label: bool) -> str:
    """One row per contact: (contact_id, *FEATURES[, label]) at %(cutoff)s.

    Contacts: HubSpot contacts created before the cutoff, and any contact identified on an event before it.
    """
    label_cte = (
        """,
        later_ids as (
            select anonymous_id, contact_id from _propensity_known_ids where cutoff = %(horizon_end)s
        ),
        buyers as (
            select distinct coalesce(e.contact_id, later_ids.contact_id) as contact_id
            from _propensity_events as e
            left join later_ids on e.contact_id is null and e.anonymous_id = later_ids.anonymous_id
            where e.event_name = 'Purchase' and e.event_at >= %(cutoff)s and e.event_at < %(horizon_end)s
        )"""
        if with_label
        else ""
    )
    label_col = ", (buyers.contact_id is not null)::int as label" if with_label else ""
    label_join = "left join buyers on buyers.contact_id = universe.contact_id" if with_label else ""
    zeros = ", ".join(
        f"coalesce(features.{n}, {lookback + 1 if n.startswith('days_since') else 0})"
        for n in FEATURES[:EVENT_FEATURES]
    )
    stages = ", ".join(f"'{stage}'" for stage in LIFECYCLE_STAGES)
    return f"""
        with
        known_ids as (
            -- browsers identified as exactly one contact before the cutoff (_stage_events)
            select anonymous_id, contact_id from _propensity_known_ids where cutoff = %(cutoff)s
        ),
        recent as (
            select coalesce(e.contact_id, known_ids.contact_id) as contact_id, e.event_name, e.event_at, e.value
            from _propensity_events as e
            left join known_ids on e.contact_id is null and e.anonymous_id = known_ids.anonymous_id
            where e.event_at < %(cutoff)s and e.event_at >= %(cutoff)s - interval '{lookback} days'
        ),
        features as (
            select contact_id, {_feature_columns(lookback)}
            from recent
            where contact_id is not null
            group by contact_id
        ),
        contact_versions as (
            select distinct on (contact_id) contact_id, lifecycle_stage
            from _propensity_contacts
            where updated_at < %(cutoff)s
            order by contact_id, updated_at desc, loaded_at desc
        ),
        contacts as (
            select contact_id, min(created_at) as created_at
            from _propensity_contacts
            group by contact_id
        ),
        deals as (
            select
                contact_id,
                count(*) as deals_created,
                count(*) filter (where stage = 'closedwon' and updated_at < %(cutoff)s) as deals_won,
                coalesce(sum(amount) filter (where stage = 'closedwon' and updated_at < %(cutoff)s), 0)
                    as deals_won_amount
            from _propensity_deals
            where created_at < %(cutoff)s
            group by contact_id
        ),
        universe as (
            select contact_id from contacts where created_at is null or created_at < %(cutoff)s
            union
            select contact_id from _propensity_first_seen where first_event_at < %(cutoff)s
        ){label_cte}
        select
            universe.contact_id,
            {zeros},
            coalesce(array_position(array[{stages}], contact_versions.lifecycle_stage) - 1, -1)::double precision,
            coalesce(extract(epoch from %(cutoff)s - contacts.created_at)::double precision / 86400.0, -1),
            coalesce(deals.deals_created, 0)::double precision,
            coalesce(deals.deals_won, 0)::double precision,
            coalesce(deals.deals_won_amount, 0)::double precision
            {label_col}
        from universe
        left join features on features.contact_id = universe.contact_id
        left join contact_versions on contact_versions.contact_id = universe.contact_id
        left join contacts on contacts.contact_id = universe.contact_id
        left join deals on deals.contact_id = universe.contact_id
        {label_join}
        order by universe.contact_id
    """


def _cutoffs(end: datetime, horizon_days: int) -> tuple[datetime, datetime, datetime]:
    """The snapshots' cutoffs: training, held-out test, scoring (= ``end``)."""
    horizon = timedelta(days=horizon_days)
    return end - 2 * horizon, end - horizon, end


def _stage_events(cur: psycopg.Cursor, end: datetime, cutoffs: tuple[datetime, ...] | None = None) -> int:
    """Copy the events before ``end`` (only the columns the model needs) into a temporary table,
    and which browsers were identified as exactly one contact before each of ``cutoffs`` (default:
    those of the default parameters), the contact a snapshot gives their anonymous events."""
    cur.execute(
        """
        create temporary table _propensity_events on commit drop as
        select
            nullif(payload ->> 'contact_id', '') as contact_id,
            nullif(payload ->> 'anonymous_id', '') as anonymous_id,
            payload ->> 'event_name' as event_name,
            event_at,
            (payload ->> 'value')::double precision as value
        from raw.web_events__events
        -- the ingest keeps event_time, parsed, as _updated_at: no second parse of the text
        cross join lateral (
            select coalesce(_updated_at, (payload ->> 'event_time')::timestamptz) as event_at
        ) as parsed
        where event_at < %(end)s
        """,
        {"end": end},
    )
    count = cur.rowcount
    # every version of every contact and deal: the snapshots pick what was known at their cutoff
    cur.execute(
        """
        create temporary table _propensity_contacts on commit drop as
        select
            _record_id as contact_id,
            (payload ->> 'createdAt')::timestamptz as created_at,
            coalesce(_updated_at, (payload ->> 'updatedAt')::timestamptz) as updated_at,
            _loaded_at as loaded_at,
            lower(payload -> 'properties' ->> 'lifecyclestage') as lifecycle_stage
        from raw.hubspot__contacts
        """
    )
    cur.execute(
        """
        create temporary table _propensity_deals on commit drop as
        select distinct on (_record_id)
            nullif(payload -> 'properties' ->> 'contact_id', '') as contact_id,
            (payload ->> 'createdAt')::timestamptz as created_at,
            coalesce(_updated_at, (payload ->> 'updatedAt')::timestamptz) as updated_at,
            payload -> 'properties' ->> 'dealstage' as stage,
            (nullif(payload -> 'properties' ->> 'amount', ''))::double precision as amount
        from raw.hubspot__deals
        where not coalesce((payload ->> 'archived')::boolean, false)
        order by _record_id, _updated_at desc nulls last, _loaded_at desc
        """
    )
    # the events arrive about in time order (the ingest reads the day files in order), so a block
    # range index lets each snapshot read only its windows' blocks where it read every event:
    # built in about 2 s, where each snapshot scanned the 20M events of 1M contacts three times
    # (README, Benchmark). Out of order, it only loses its use: the planner then scans
    cur.execute("create index on _propensity_events using brin (event_at)")
    cur.execute("analyze _propensity_events")
    # each contact's first event: the snapshots' universes read it, not every event before them
    cur.execute(
        """
        create temporary table _propensity_first_seen on commit drop as
        select contact_id, min(event_at) as first_event_at
        from _propensity_events
        where contact_id is not null
        group by contact_id
        """
    )
    cur.execute("analyze _propensity_first_seen")
    # every cutoff's known browsers in one pass over the events, where each snapshot (and each
    # label: a test snapshot's labels use the scoring cutoff's) had aggregated them again: five
    # passes for the three snapshots, about 5 s each at 1M contacts (README, Benchmark).
    # One contact: min = max, a hash aggregate, where count(distinct) sorts the events
    cutoffs = tuple(cutoffs or _cutoffs(end, DEFAULT_PARAMS["horizon_days"]))
    args = {f"c{i}": cutoff for i, cutoff in enumerate(cutoffs)}
    aggregates = ",\n".join(
        f"min(contact_id) filter (where event_at < %(c{i})s) as lo{i}, "
        f"max(contact_id) filter (where event_at < %(c{i})s) as hi{i}"
        for i in range(len(cutoffs))
    )
    values = ", ".join(f"(%(c{i})s::timestamptz, lo{i}, hi{i})" for i in range(len(cutoffs)))
    cur.execute(
        f"""
        create temporary table _propensity_known_ids on commit drop as
        select known.cutoff, browsers.anonymous_id, known.lo as contact_id
        from (
            select anonymous_id, {aggregates}
            from (
                -- each browser's contacts and when each was first seen on it: a contact was seen
                -- on it before a cutoff when that first time was. About one pair per browser, so
                -- the cutoffs' aggregates run over pairs, where they ran over every event with both
                -- ids and spilled to disk (11.8 s at 1M contacts, now 7.8 s; README, Benchmark)
                select anonymous_id, contact_id, min(event_at) as event_at
                from _propensity_events
                where contact_id is not null and anonymous_id is not null
                group by anonymous_id, contact_id
            ) as pairs
            group by anonymous_id
        ) as browsers
        cross join lateral (values {values}) as known (cutoff, lo, hi)
        where known.lo = known.hi
        """,
        args,
    )
    cur.execute(
        "create temporary table _propensity_cutoffs on commit drop as select unnest(%s::timestamptz[]) as cutoff",
        (list(cutoffs),),
    )
    cur.execute("analyze _propensity_known_ids")
    return count


def _check_staged(cur: psycopg.Cursor, *cutoffs: datetime) -> None:
    missing = [
        c for c in cutoffs
        if not cur.execute("select 1 from _propensity_cutoffs where cutoff = %s", (c,)).fetchone()
    ]  # fmt: skip
    if missing:
        raise PropensityError(
            f"propensity: no snapshot was staged for cutoff(s) {missing} (see _stage_events)"
        )


def _snapshot(cur: psycopg.Cursor, cutoff: datetime, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels at ``cutoff``, read from a server-side cursor a batch at a time.

    Only numpy arrays are kept: a whole result as Python tuples (one float or Decimal object per
    value) was most of this model's peak memory at 1M contacts (README, Benchmark)."""
    horizon_end = cutoff + timedelta(days=params["horizon_days"])
    _check_staged(cur, cutoff, horizon_end)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    # binary rows: a float8 arrives as 8 bytes, not as text to parse (1M rows of 23 columns:
    # about 7 s instead of 12 s to fetch and convert, measured on the benchmark's machine)
    with cur.connection.cursor(name=f"propensity_snapshot_{cutoff:%Y%m%d}", binary=True) as named:
        named.execute(
            _snapshot_sql(params["lookback_days"], with_label=True),
            {"cutoff": cutoff, "horizon_end": horizon_end},
        )
        while batch := named.fetchmany(SCORE_BATCH):
            xs.append(np.array([r[1:-1] for r in batch], dtype=float))
            ys.append(np.array([r[-1] for r in batch], dtype=int))
    if not xs:
        return np.empty((0, len(FEATURES))), np.empty(0, dtype=int)
    return np.concatenate(xs), np.concatenate(ys)


def _new_model(params: dict[str, Any]):
    from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: PLC0415 - heavy import

    return HistGradientBoostingClassifier(
        learning_rate=params["learning_rate"],
        max_iter=params["max_iter"],
        max_leaf_nodes=params["max_leaf_nodes"],
        min_samples_leaf=params["min_samples_leaf"],
        l2_regularization=params["l2_regularization"],
        early_stopping=False,
        random_state=params["random_state"],
    )


def _check_classes(y: np.ndarray, period: str, as_of: date) -> None:
    positives = int(y.sum())
    if len(y) == 0 or positives == 0 or positives == len(y):
        raise PropensityError(
            f"propensity: the {period} period before as_of {as_of} has {len(y)} contacts and {positives} "
            "buyers; both buyers and non-buyers are needed. Check that web events cover the 90 days "
            "before as_of (raw.web_events__events) or pass an as_of inside the loaded data."
        )


def _digest(as_of: date, params: dict[str, Any], *arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps({"as_of": as_of.isoformat(), "params": params, "v": VERSION}, sort_keys=True).encode()
    )
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:12]


def _features(conn: psycopg.Connection, cutoff: datetime, params: dict[str, Any]) -> tuple[list, np.ndarray]:
    """Every contact's id and features at ``cutoff`` (the scoring snapshot), read from a
    server-side cursor a batch at a time into one array (1M contacts: 22 floats each, 176 MB)."""
    with conn.cursor() as cur:
        _check_staged(cur, cutoff)
    ids: list = []
    xs: list[np.ndarray] = []
    with conn.cursor(name="propensity_features", binary=True) as named:
        named.execute(_snapshot_sql(params["lookback_days"], with_label=False), {"cutoff": cutoff})
        while batch := named.fetchmany(SCORE_BATCH):
            ids.extend(r[0] for r in batch)
            xs.append(np.array([r[1:] for r in batch], dtype=float))
    return ids, (np.concatenate(xs) if xs else np.empty((0, len(FEATURES))))


def _write_scores(conn: psycopg.Connection, model: Any, run_id: str, ids: list, x: np.ndarray) -> int:
    """Score the contacts ``ids`` (features ``x``) in batches and COPY the scores."""
    from audience.warehouse import copy_rows  # noqa: PLC0415

    scored_at = conn.execute("select trained_at from ml.model_runs where run_id = %s", (run_id,)).fetchone()[
        0
    ]
    conn.execute("delete from ml.propensity_scores")
    count = 0
    for start in range(0, len(ids), SCORE_BATCH):
        scores = model.predict_proba(x[start : start + SCORE_BATCH])[:, 1]
        count += copy_rows(
            conn,
            "ml.propensity_scores",
            ("run_id", "contact_id", "purchase_propensity", "scored_at"),
            (
                (run_id, contact_id, round(float(s), 6), scored_at)
                for contact_id, s in zip(ids[start : start + SCORE_BATCH], scores, strict=True)
            ),
        )
    return count


def run(conn: psycopg.Connection, *, as_of: date | None = None, params: dict[str, Any] | None = None) -> dict:
    """Train, evaluate on the held-out later period, and score every contact at ``as_of``.

    ``as_of`` defaults to today (UTC); events from ``as_of`` on are ignored. Returns a summary
    (run id, AUC, counts; no personal data). Commits. Its numeric libraries use at most
    ``audience.ml.threads()`` threads, in this thread and in the one that fits.
    """
    n_threads = threads()
    with limited_threads(n_threads):
        return _run(conn, as_of, params, n_threads)


def _in_threads(n_threads: int, work: Any, *args: Any) -> Any:
    """``work(*args)`` under the thread limit (called in the fitting thread, which sets its own)."""
    with limited_threads(n_threads):
        return work(*args)


def _run(conn: psycopg.Connection, as_of: date | None, params: dict[str, Any] | None, n_threads: int) -> dict:
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    started = time.monotonic()
    as_of = as_of or datetime.now(UTC).date()
    p = {**DEFAULT_PARAMS, **(params or {})}
    end = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    train_cutoff, test_cutoff, _ = cutoffs = _cutoffs(end, p["horizon_days"])

    # the fits run in a thread while the connection reads the next snapshot (the server computes
    # it, the fit is numpy and OpenMP): the first fit beside the test snapshot, the evaluation and
    # the final fit beside the scoring snapshot (README, Benchmark)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="propensity-fit") as fits:
        with conn.cursor() as cur:
            # the snapshots and the scores are read whole through server-side cursors: plan for
            # all rows (the default plans a cursor for its first 10%, which favours nested loops)
            cur.execute("set local cursor_tuple_fraction = 1.0")
            n_events = _stage_events(cur, end, cutoffs)
            x_train, y_train = _snapshot(cur, train_cutoff, p)
            _check_classes(y_train, "training", as_of)
            trained = fits.submit(_in_threads, n_threads, _new_model(p).fit, x_train, y_train)
            x_test, y_test = _snapshot(cur, test_cutoff, p)
        log.info(
            "propensity: %d events before %s; train %d contacts (%d buyers), test %d (%d buyers) in %.1fs",
            n_events, as_of, len(y_train), int(y_train.sum()), len(y_test), int(y_test.sum()),
            time.monotonic() - started,
        )  # fmt: skip
        _check_classes(y_test, "held-out", as_of)

        def evaluate_and_refit() -> tuple[float, Any]:
            auc = float(roc_auc_score(y_test, trained.result().predict_proba(x_test)[:, 1]))
            # final model: both labelled periods
            final = _new_model(p).fit(np.vstack([x_train, x_test]), np.concatenate([y_train, y_test]))
            return auc, final

        fitted = fits.submit(_in_threads, n_threads, evaluate_and_refit)
        ids, x_score = _features(conn, end, p)
        auc, final = fitted.result()
    run_id = f"propensity-{as_of:%Y%m%d}-{_digest(as_of, p, x_train, y_train, x_test, y_test)}"
    log.info("propensity: held-out AUC %.3f (run %s) in %.1fs", auc, run_id, time.monotonic() - started)

    with conn.cursor() as cur:
        cur.execute(
            """
            insert into ml.model_runs
                (run_id, model, trained_at, as_of, auc_holdout, n_train, n_test, positives, params, features)
            values (%s, %s, now(), %s, %s, %s, %s, %s, %s, %s)
            on conflict (run_id) do nothing
            """,
            (
                run_id, MODEL, as_of, auc, len(y_train), len(y_test), int(y_train.sum() + y_test.sum()),
                json.dumps({**p, "model_version": VERSION, "refit": "train+test periods"}), list(FEATURES),
            ),
        )  # fmt: skip
    n_scored = _write_scores(conn, final, run_id, ids, x_score)
    conn.commit()
    seconds = round(time.monotonic() - started, 2)
    log.info("propensity: %d contacts scored by run %s in %.1fs", n_scored, run_id, seconds)
    return {
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "auc_holdout": round(auc, 4),
        "n_train": len(y_train),
        "n_test": len(y_test),
        "positives": int(y_train.sum() + y_test.sum()),
        "scored": n_scored,
        "seconds": seconds,
    }
