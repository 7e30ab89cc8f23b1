"""Psychographic clustering: k chosen by silhouette, and a run on a fresh warehouse."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest

from audience.ml import psychographic

# three interests, each with words in French and English, commented under its own posts
TOPICS = {
    "outdoor": (
        ["randonnée", "tente", "sentier", "bivouac"],
        ["hiking", "tent", "backpack", "summit"],
        ["p1", "p2"],
    ),
    "gastro": (
        ["fromage", "chocolat", "dégustation", "terroir"],
        ["cheese", "chocolate", "tasting", "wine"],
        ["p3", "p4"],
    ),
    "tech": (
        ["clavier", "processeur", "batterie", "écouteurs"],
        ["keyboard", "processor", "battery", "earbuds"],
        ["p5", "p6"],
    ),
}
# templates with no content word of their own: the test is about the machinery, not about noise
FR = ["{a} et {b} !", "Pour {a} et {b} ?", "Déjà {a}, puis {b}"]
EN = ["{a} and {b}!", "For {a} and {b}?", "Already {a}, then {b}"]


def test_select_k_finds_obvious_clusters():
    rng = np.random.default_rng(0)
    centres = np.eye(6)[:4] * 5
    x = np.vstack([c + rng.normal(scale=0.3, size=(25, 6)) for c in centres])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    best, candidates = psychographic.select_k(x, 2, 8, seed=0)
    assert best.k == 4
    assert {c.algorithm for c in candidates} == {"kmeans", "agglomerative"}
    assert len(candidates) == 2 * 7
    # the elbow: inertia falls steeply up to 4 clusters, little after
    inertia = {c.k: c.inertia for c in candidates if c.algorithm == "kmeans"}
    assert inertia[3] - inertia[4] > 5 * (inertia[4] - inertia[5])


@pytest.mark.parametrize("sample", [40, 1000])
def test_select_k_silhouettes_match_sklearns_own_sampling(sample):
    # the distances are computed once for all candidates: the scores must be what
    # silhouette_score(x, labels, metric="cosine", sample_size=..., random_state=seed) gives
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(1)
    x = np.vstack([c + rng.normal(scale=0.8, size=(30, 5)) for c in np.eye(5)[:3] * 3])
    _, candidates = psychographic.select_k(x, 2, 4, seed=3, silhouette_sample=sample)
    for c in candidates:
        size = sample if x.shape[0] > sample else None
        expected = silhouette_score(x, c.labels, metric="cosine", sample_size=size, random_state=3)
        assert c.silhouette == pytest.approx(expected, abs=1e-9), (c.algorithm, c.k)


def test_select_k_on_a_sample_fits_the_chosen_k_on_every_row():
    rng = np.random.default_rng(4)
    centres = np.eye(8)[:5] * 5
    x = np.vstack([c + rng.normal(scale=0.4, size=(400, 8)) for c in centres])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    whole, _ = psychographic.select_k(x.copy(), 2, 8, seed=0, max_agglomerative=100, silhouette_sample=300)
    best, candidates = psychographic.select_k(
        x.copy(), 2, 8, seed=0, max_agglomerative=100, silhouette_sample=300, k_selection_sample=500
    )
    assert best.k == whole.k == 5
    assert len(best.labels) == len(x)  # the final fit labels every row, not only the sample's
    # the same partition as choosing on every row (cluster numbers may differ)
    pairs = set(zip(whole.labels.tolist(), best.labels.tolist(), strict=True))
    assert len(pairs) == 5
    assert [c.k for c in candidates] == list(range(2, 9)) and sum(c is best for c in candidates) == 1
    # the sample's inertias are scaled to every row: the curve keeps its elbow at 5
    inertia = {c.k: c.inertia for c in candidates}
    assert inertia[4] - inertia[5] > 5 * (inertia[5] - inertia[6])
    assert inertia[5] == pytest.approx(best.inertia) and inertia[6] == pytest.approx(
        whole_inertia(x, 6), rel=0.2
    )
    with pytest.raises(ValueError, match="above max_agglomerative"):
        psychographic.select_k(x, 2, 8, k_selection_sample=500, max_agglomerative=800)


def whole_inertia(x: np.ndarray, k: int) -> float:
    from sklearn.cluster import KMeans

    return float(KMeans(n_clusters=k, n_init=10, random_state=0).fit(x).inertia_)


def test_settings_keep_the_k_selection_sample_above_the_other_samples():
    with pytest.raises(ValueError, match="k_selection_sample"):
        psychographic.Settings(k_selection_sample=5000).check()


def test_select_k_rejects_too_few_points():
    with pytest.raises(ValueError, match="too few"):
        psychographic.select_k(np.eye(3), 3, 5)


def _comments() -> tuple[list[tuple[str, dict]], dict[tuple[str, str], str]]:
    """Raw rows (table, payload) and each author's planted topic."""
    rows: list[tuple[str, dict]] = []
    planted: dict[tuple[str, str], str] = {}
    t0 = datetime(2026, 10, 1, tzinfo=UTC)
    n = 0
    for topic, (fr_words, en_words, posts) in TOPICS.items():
        for a in range(8):
            lang_words, templates = (fr_words, FR) if a % 3 else (en_words, EN)
            words = lang_words[a % 4 :] + lang_words[: a % 4]
            if a >= 6:  # LinkedIn members (one English, one French)
                urn = f"urn:li:person:{topic}{a}"
                planted[("linkedin", urn)] = topic
                n += 1
                rows.append(
                    (
                        "raw.linkedin__comments",
                        {
                            "id": str(n),
                            "actor": urn,
                            "object": f"urn:li:activity:{posts[0]}",
                            "message": {"text": templates[a % 3].format(a=words[0], b=words[1])},
                            "created": {"time": int((t0 + timedelta(hours=n)).timestamp() * 1000)},
                        },
                    )
                )
                continue
            author = f"{topic}{a}"
            planted[("facebook", author)] = topic
            for c in range(2):
                n += 1
                rows.append(
                    (
                        "raw.facebook__comments",
                        {
                            "id": f"c{n}",
                            "from": {"id": author, "name": f"Person {author}"},
                            "message": templates[(a + c) % 3].format(a=words[c], b=words[c + 2]),
                            "post_id": posts[(a + c) % 2],
                            "created_time": (t0 + timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%S+0000"),
                        },
                    )
                )
    # no text at all, and only small talk: neither is clustered
    for author, message in (("emoji", "😍😍"), ("chatter", "Merci !")):
        n += 1
        rows.append(
            (
                "raw.facebook__comments",
                {
                    "id": f"c{n}",
                    "from": {"id": author, "name": "Someone"},
                    "message": message,
                    "post_id": "p1",
                    "created_time": "2026-10-20T10:00:00+0000",
                },
            )
        )
    # an updated version of the first comment: only the latest version is read
    rows.append(("raw.facebook__comments", dict(rows[0][1], message=rows[0][1]["message"] + " !!")))
    return rows, planted


def _load(conn: psycopg.Connection, rows: list[tuple[str, dict]]) -> None:
    for i, (table, payload) in enumerate(rows):
        conn.execute(
            f"insert into {table} (_batch_id, _loaded_at, _record_id, _updated_at, payload) "
            "values ('b1', now(), %s, %s, %s)",
            (payload["id"], datetime(2026, 10, 31, tzinfo=UTC) + timedelta(seconds=i), json.dumps(payload)),
        )
    conn.commit()


@pytest.mark.parametrize("vector_type", ["vector", "real[]"])
def test_run_clusters_authors_by_interest(fresh_warehouse, vector_type):
    from sklearn.metrics import adjusted_rand_score

    from audience import warehouse

    rows, planted = _comments()
    with psycopg.connect(**fresh_warehouse.libpq()) as conn:
        warehouse.ensure_schemas(conn)
        if vector_type == "real[]":  # as on a server without pgvector
            conn.execute("drop table ml.author_embeddings")
            conn.execute(
                "create table ml.author_embeddings (run_id text not null, platform text not null, "
                "author_id text not null, embedding real[] not null, "
                "created_at timestamptz not null default now(), primary key (platform, author_id))"
            )
            conn.commit()
        _load(conn, rows)
        settings = psychographic.Settings(k_min=2, k_max=5, min_df=2)
        summary = psychographic.run(conn, seed=0, settings=settings)
        second = psychographic.run(conn, seed=0, settings=settings)  # replaces the first run

        assert summary["authors"] == 3 * 8 + 2
        assert summary["comments"] == 3 * (6 * 2 + 2) + 2
        assert summary["k"] == 3 and summary["embedding"] == "post_ppmi_svd"
        assert summary["clustered_authors"] == 3 * 8
        assert sorted(c["size"] for c in summary["clusters"]) == [8, 8, 8]
        assert "Person" not in json.dumps(summary) and "randonnée" not in json.dumps(summary)

        clusters = {
            (p, a): c
            for p, a, c in conn.execute("select platform, author_id, cluster_id from ml.author_clusters")
        }
        assert clusters[("facebook", "emoji")] is None and clusters[("facebook", "chatter")] is None
        keys = sorted(planted)
        assert adjusted_rand_score([planted[k] for k in keys], [clusters[k] for k in keys]) == 1.0

        text_rows = dict(
            (
                (a, (has_text, lang))
                for a, has_text, lang in conn.execute(
                    "select author_id, has_text, language from ml.text_authors"
                )
            )
        )
        assert text_rows["emoji"] == (False, None)
        assert text_rows["chatter"] == (True, "fr")
        assert text_rows["outdoor0"][1] == "en" and text_rows["outdoor1"][1] == "fr"

        run_ids = {r[0] for r in conn.execute("select distinct run_id from ml.author_clusters")}
        assert run_ids == {second["run_id"]}
        assert conn.execute("select count(*) from ml.psychographic_runs").fetchone()[0] == 2
        chosen = conn.execute("select algorithm, k from ml.cluster_selection where is_chosen").fetchall()
        assert [k for _, k in chosen] == [3]
        assert conn.execute("select count(*) from ml.cluster_selection").fetchone()[0] == 2 * 4

        names = conn.execute("select cluster_name, top_terms, size from ml.interest_clusters").fetchall()
        assert len(names) == 3 and all(size == 8 for *_, size in names)
        outdoor = next(terms for _, terms, _ in names if "randonnée" in terms or "hiking" in terms)
        assert {"randonnée", "hiking"} <= set(outdoor)  # one cluster holds both languages

        column_type, dims, count = conn.execute(
            "select format_type(a.atttypid, a.atttypmod), "
            "(select cardinality(embedding::real[]) from ml.author_embeddings limit 1), "
            "(select count(*) from ml.author_embeddings) "
            "from pg_attribute a where a.attrelid = 'ml.author_embeddings'::regclass "
            "and a.attname = 'embedding'"
        ).fetchone()
        assert column_type.startswith(vector_type.rstrip("[]")) and dims == psychographic.EMBEDDING_DIM
        assert count == 3 * 8


@pytest.mark.parametrize(("rows", "posts", "components"), [(2000, 40, 39), (3000, 12, 11), (500, 70, 64)])
def test_top_components_are_what_truncated_svd_gives(rows, posts, components):
    # the exact projection through the Gram matrix replaced TruncatedSVD for narrow dense spaces
    # (memory at 1M contacts): same values, same signs
    from sklearn.decomposition import TruncatedSVD

    rng = np.random.default_rng(7)
    x = np.abs(rng.normal(size=(rows, posts))) * rng.random(posts) * 3
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    expected = TruncatedSVD(n_components=components, random_state=0).fit_transform(x)
    got = psychographic._top_components(x, components)
    assert got.shape == expected.shape
    # leading components agree to rounding; the trailing ones within the randomized solver's error
    assert np.abs(got[:, :10] - expected[:, :10]).max() < 1e-9
    assert np.abs(got - expected).max() < 1e-5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("is_pgvector", "brackets"), [(True, "[]"), (False, "{}")])
def test_vector_literals_hold_six_significant_digits_of_each_value(dtype, is_pgvector, brackets):
    rng = np.random.default_rng(7)
    rows = rng.normal(size=(50, 64)).astype(dtype)
    rows[0, :6] = [-0.0, 1e-30, 3.4e38, 0.1234565, -1.0, 0.0]
    for row in rows:
        expected = brackets[0] + ",".join(f"{v:.6g}" for v in row) + brackets[1]
        assert psychographic._vector_literal(row, is_pgvector) == expected
    assert (
        psychographic._vector_literal(rows[0, :3], is_pgvector)
        == f"{brackets[0]}-0,1e-30,3.4e+38{brackets[1]}"
    )
