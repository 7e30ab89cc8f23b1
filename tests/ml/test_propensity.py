"""Purchase propensity on a small synthetic events table in a throwaway warehouse."""

from __future__ import annotations

import random
import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from audience import warehouse
from audience.ml import propensity

AS_OF = date(2026, 11, 1)
FAST = {"max_iter": 40}  # fewer boosting rounds: the test checks the plumbing, not the model
DEFAULT_HORIZON = propensity.DEFAULT_PARAMS["horizon_days"]


def _events(contacts: int = 300, seed: int = 3):
    """Web events over the 90 days before AS_OF: buyers-to-be browse deeper, and buy more."""
    rnd = random.Random(seed)
    end = datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC)
    n = 0
    for c in range(contacts):
        intent = rnd.random()
        contact_id, anon = f"{100000 + c}", f"anon-{c}"
        for _ in range(int(6 + 20 * intent)):
            at = end - timedelta(days=90 * rnd.random())
            u = rnd.random()
            name = (
                "Purchase"
                if u < 0.25 * intent * intent
                else "AddToCart"
                if u < 0.4 * intent
                else "ViewContent"
                if u < 0.6
                else "PageView"
            )
            n += 1
            payload = {
                "event_id": f"ev-{n}",
                "event_name": name,
                "event_time": at.isoformat().replace("+00:00", "Z"),
                "contact_id": contact_id if rnd.random() < 0.7 or name == "Purchase" else None,
                "anonymous_id": anon,
                "url": "https://shop.example.com/",
                "value": 20.0 if name != "PageView" else None,
                "currency": "EUR" if name != "PageView" else None,
            }
            yield ("b1", end, payload["event_id"], at, payload)


def _load_events(conn, rows) -> None:
    warehouse.ensure_schemas(conn)
    warehouse.copy_rows(
        conn,
        "raw.web_events__events",
        ("_batch_id", "_loaded_at", "_record_id", "_updated_at", "payload"),
        rows,
    )


def _raw_rows(events, end: datetime):
    """raw.web_events__events rows of (event id, name, time, contact id, browser id) events."""
    for event_id, name, at, contact, browser in events:
        payload = {
            "event_id": event_id,
            "event_name": name,
            "event_time": at.isoformat().replace("+00:00", "Z"),
            "contact_id": contact,
            "anonymous_id": browser,
            "value": 10.0,
            "currency": "EUR",
        }
        yield ("b1", end, event_id, at, payload)


@pytest.fixture()
def events_warehouse(fresh_warehouse):
    with warehouse.connect() as conn:
        _load_events(conn, _events())
        conn.commit()
    return fresh_warehouse


def test_run_writes_a_scored_run_with_its_holdout_auc_and_is_deterministic(events_warehouse):
    with warehouse.connect() as conn:
        first = propensity.run(conn, as_of=AS_OF, params=FAST)
        scores_1 = conn.execute(
            "select contact_id, purchase_propensity from ml.propensity_scores order by contact_id"
        ).fetchall()
        second = propensity.run(conn, as_of=AS_OF, params=FAST)
        scores_2 = conn.execute(
            "select contact_id, purchase_propensity from ml.propensity_scores order by contact_id"
        ).fetchall()
        runs = conn.execute(
            "select run_id, auc_holdout, n_train, n_test, features from ml.model_runs"
        ).fetchall()
        run_ids = conn.execute("select distinct run_id from ml.propensity_scores").fetchall()

    assert first["run_id"] == second["run_id"] and first["auc_holdout"] == second["auc_holdout"]
    assert scores_1 == scores_2  # same data, same model, same scores
    assert len(scores_1) == first["scored"] == 300
    assert all(0.0 <= p <= 1.0 for _, p in scores_1)
    assert run_ids == [(first["run_id"],)]
    assert len(runs) == 1
    run_id, auc, n_train, n_test, features = runs[0]
    assert 0.0 <= auc <= 1.0 and n_train > 0 and n_test > 0
    assert auc > 0.6  # intent drives both the history and the label: the model must see it
    assert features == list(propensity.FEATURES)
    # the summary carries ids and counts only
    assert set(first) == {
        "run_id",
        "as_of",
        "auc_holdout",
        "n_train",
        "n_test",
        "positives",
        "scored",
        "seconds",
    }


def test_run_without_buyers_says_what_is_missing(events_warehouse):
    with warehouse.connect() as conn:
        conn.execute("delete from raw.web_events__events where payload ->> 'event_name' = 'Purchase'")
        with pytest.raises(propensity.PropensityError, match="buyers"):
            propensity.run(conn, as_of=AS_OF, params=FAST)
        conn.rollback()
        assert conn.execute("select count(*) from ml.model_runs").fetchone()[0] == 0


def test_a_browser_counts_for_its_one_contact_only(fresh_warehouse):
    """Anonymous events take the contact their browser was identified as, when it is exactly one:
    for the features before the cutoff and for the label after it."""
    end = datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC)
    cutoff = end - timedelta(days=DEFAULT_HORIZON)
    day = timedelta(days=1)
    events = [
        # browser b1 is only ever contact 1: its anonymous cart and purchase are contact 1's
        ("e1", "PageView", cutoff - 5 * day, "1", "b1"),
        ("e2", "AddToCart", cutoff - 4 * day, None, "b1"),
        ("e3", "Purchase", cutoff + 3 * day, None, "b1"),
        # browser b2 was contacts 2 and 3: its anonymous events are nobody's
        ("e4", "PageView", cutoff - 5 * day, "2", "b2"),
        ("e5", "PageView", cutoff - 5 * day, "3", "b2"),
        ("e6", "AddToCart", cutoff - 4 * day, None, "b2"),
        ("e7", "Purchase", cutoff + 3 * day, None, "b2"),
    ]
    with warehouse.connect() as conn:
        _load_events(conn, _raw_rows(events, end))
        with conn.cursor() as cur:
            assert propensity._stage_events(cur, end) == len(events)
            x, y = propensity._snapshot(cur, cutoff, dict(propensity.DEFAULT_PARAMS))
            # the browsers are identified once per cutoff when staging: another cutoff is refused
            with pytest.raises(propensity.PropensityError, match="no snapshot was staged"):
                propensity._snapshot(cur, cutoff + day, dict(propensity.DEFAULT_PARAMS))
        conn.rollback()
    carts = x[:, propensity.FEATURES.index("n_addtocart_7d")]
    assert y.tolist() == [1, 0, 0]  # contacts 1, 2, 3 in id order
    assert carts.tolist() == [1.0, 0.0, 0.0]


def test_a_snapshot_holds_the_contacts_seen_before_its_cutoff_whatever_the_event_order(fresh_warehouse):
    """A contact known only from web events is in a snapshot once their first event precedes its
    cutoff (and not before), with their events of the lookback window counted. The events are
    stored out of time order, so the result cannot rest on the order the staging's block range
    index is built for (on five rows the planner scans the table, not that index)."""
    end = datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC)
    cutoff = end - timedelta(days=DEFAULT_HORIZON)
    day = timedelta(days=1)
    events = [
        ("e1", "PageView", cutoff + 2 * day, "late", None),  # first seen after the cutoff: not in it
        ("e2", "AddToCart", cutoff - 2 * day, "early", None),
        ("e3", "PageView", cutoff - 60 * day, "old", None),  # before the lookback window: in, with zeros
        ("e4", "AddToCart", cutoff - 1 * day, "early", None),
        ("e5", "Purchase", cutoff + 5 * day, "early", None),
    ]
    with warehouse.connect() as conn:
        _load_events(conn, _raw_rows(events, end))
        with conn.cursor() as cur:
            propensity._stage_events(cur, end)
            x, y = propensity._snapshot(cur, cutoff, dict(propensity.DEFAULT_PARAMS))
        conn.rollback()
    carts = x[:, propensity.FEATURES.index("n_addtocart_30d")]
    # contacts "early" and "old", in id order; "late" is not seen yet
    assert len(y) == 2
    assert carts.tolist() == [2.0, 0.0]
    assert y.tolist() == [1, 0]


def test_the_fits_run_beside_the_snapshots_each_under_the_thread_limit(events_warehouse, monkeypatch):
    """The first fit runs while the test snapshot is read, the final fit while the scoring features
    are: here each read waits for its fit to have started, and each fit for its read, which only a
    run that does both at once gets past (one after the other, a wait times out). The fitting
    thread keeps the thread limit."""
    from threadpoolctl import threadpool_info

    monkeypatch.setenv("AUDIENCE_ML_THREADS", "1")
    end = datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC)
    _, test_cutoff, _ = propensity._cutoffs(end, DEFAULT_HORIZON)
    fit_started = [threading.Event(), threading.Event()]
    read_started = [threading.Event(), threading.Event()]
    fits: list[tuple[str, list[int]]] = []
    new_model, snapshot, features = propensity._new_model, propensity._snapshot, propensity._features

    def spied_model(params):
        model = new_model(params)
        fit = model.fit

        def recording_fit(x, y):
            fits.append((threading.current_thread().name, [i["num_threads"] for i in threadpool_info()]))
            fit_started[len(fits) - 1].set()
            assert read_started[len(fits) - 1].wait(20), "the read did not start while this fit ran"
            return fit(x, y)

        model.fit = recording_fit
        return model

    def waiting_snapshot(cur, cutoff, params):
        if cutoff == test_cutoff:
            read_started[0].set()
            assert fit_started[0].wait(20), "the first fit had not started when the test snapshot was read"
        return snapshot(cur, cutoff, params)

    def waiting_features(conn, cutoff, params):
        read_started[1].set()
        assert fit_started[1].wait(20), "the final fit had not started when the scoring features were read"
        return features(conn, cutoff, params)

    monkeypatch.setattr(propensity, "_new_model", spied_model)
    monkeypatch.setattr(propensity, "_snapshot", waiting_snapshot)
    monkeypatch.setattr(propensity, "_features", waiting_features)
    with warehouse.connect() as conn:
        summary = propensity.run(conn, as_of=AS_OF, params=FAST)
    assert summary["scored"] == 300
    assert [name.startswith("propensity-fit") for name, _ in fits] == [True, True]
    assert all(counts and set(counts) == {1} for _, counts in fits), fits
