"""The social post-pass: comments whose wording follows the planted interests, authors mapped apart."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sandbox import world_social as ws
from sandbox.world import generate


def _lines(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("world-social")
    generate(path, contacts=3_000, events_per_contact=1, seed=5)
    return path


def test_same_arguments_same_bytes(world: Path) -> None:
    social = world / ws.SOCIAL_DIR
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(social.iterdir())}
    before["truth"] = hashlib.sha256((world / ws.TRUTH_SOCIAL_FILE).read_bytes()).hexdigest()
    ws.generate(world, seed=5, as_of=datetime(2026, 11, 1, tzinfo=UTC))
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(social.iterdir())}
    after["truth"] = hashlib.sha256((world / ws.TRUTH_SOCIAL_FILE).read_bytes()).hexdigest()
    assert before == after
    assert len(before) == 8


def test_commenters_languages_and_authors(world: Path) -> None:
    truth = {t["contact_id"]: t for t in _lines(world / "truth.jsonl")}
    mapping = _lines(world / ws.TRUTH_SOCIAL_FILE)
    fb_authors = {m["author_id"]: m["contact_id"] for m in mapping if m["platform"] == "facebook"}
    li_authors = {m["author_id"]: m["contact_id"] for m in mapping if m["platform"] == "linkedin"}
    assert 0.33 < len(fb_authors) / len(truth) < 0.45  # about 40 % of contacts comment on Facebook
    assert 0.03 < len(li_authors) / len(truth) < 0.25
    assert set(fb_authors.values()) <= set(truth) and set(li_authors.values()) <= set(truth)
    comments = _lines(world / ws.SOCIAL_DIR / ws.FB_COMMENTS)
    posts = {p["id"] for p in _lines(world / ws.SOCIAL_DIR / ws.FB_POSTS)}
    assert {c["post_id"] for c in comments} <= posts
    assert all(c["comment"]["from"]["id"] in fb_authors for c in comments)
    assert all(" " in c["comment"]["from"]["name"] for c in comments)
    french = sum(
        any(
            w in c["comment"]["message"]
            for w in (
                "Merci",
                "j'adore",
                "côté",
                "Déjà",
                "Question :",
                "Enfin !",
                "Top !",
                "Un article",
                "Super",
                "Trop",
                "Génial",
                "sœur",
                "Bravo",
                "Hâte",
            )
        )
        for c in comments
    )
    assert 0.55 < french / len(comments) < 0.85  # about 70 % French


def test_wording_recovers_the_planted_cluster(world: Path) -> None:
    truth = {t["contact_id"]: t["interest_cluster"] for t in _lines(world / "truth.jsonl")}
    author = {m["author_id"]: m["contact_id"] for m in _lines(world / ws.TRUTH_SOCIAL_FILE)}
    vocab = {c: {w.lower() for lang in ws.VOCAB[c].values() for w in lang} for c in ws.VOCAB}
    hits = total = 0
    for item in _lines(world / ws.SOCIAL_DIR / ws.FB_COMMENTS):
        text = item["comment"]["message"].lower()
        votes = Counter({c: sum(w in text for w in words) for c, words in vocab.items()})
        best, n = votes.most_common(1)[0]
        if n == 0:
            continue  # off-topic noise
        total += 1
        hits += best == truth[author[item["comment"]["from"]["id"]]]
    assert total > 1000
    assert hits / total > 0.9


def test_insights_and_follower_statistics(world: Path) -> None:
    rows = _lines(world / ws.SOCIAL_DIR / ws.FB_INSIGHTS)
    assert {r["age"] for r in rows if "age" in r} == set(ws.AGE_BRACKETS)
    assert {r["gender"] for r in rows if "gender" in r} <= set(ws.GENDERS)
    assert {r["region"] for r in rows if "region" in r} <= set(ws.FACEBOOK_REGIONS.values())
    assert all(
        int(r["clicks"]) <= int(r["impressions"]) and int(r["reach"]) <= int(r["impressions"]) for r in rows
    )
    stats = json.loads((world / ws.SOCIAL_DIR / ws.LI_FOLLOWERS).read_text(encoding="utf-8"))
    geo_names = json.loads((world / ws.SOCIAL_DIR / ws.LI_GEO).read_text(encoding="utf-8"))
    assert {g["geo"] for g in stats["followerCountsByGeo"]} <= set(geo_names)
    assert stats["followerCountsBySeniority"] and stats["followerCountsByIndustry"]
