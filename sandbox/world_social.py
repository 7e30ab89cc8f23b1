"""The social part of the synthetic world: Facebook page and LinkedIn organisation activity.

``generate(out_dir, seed=..., as_of=...)`` runs after the contacts are written
(it reads ``hubspot_contacts.jsonl`` and ``truth.jsonl``) and writes, under
``<world>/social/``:

- ``facebook_posts.jsonl`` and ``linkedin_posts.jsonl``: the brand's posts over
  the 90 days before ``as_of``, each on one interest topic;
- ``facebook_comments.jsonl`` and ``linkedin_comments.jsonl``: comments by a
  subset of contacts (about 40 % on Facebook, fewer on LinkedIn) whose wording
  follows their planted interest cluster, in French or English depending on
  their country (about 70 % French overall), with a little off-topic noise and
  some replies. A Facebook author is shown as on the platform,
  ``{"id": <page-scoped id>, "name": "First Last"}``; a LinkedIn author is a
  member URN;
- ``facebook_ad_insights.jsonl``: daily ad-level rows broken down by
  age × gender and by region (Facebook's region names), with impressions,
  clicks, spend and reach following the world's own demography;
- ``linkedin_follower_statistics.json`` (lifetime follower counts by geo,
  seniority and industry) and ``linkedin_geo.json`` (geo URN → name);

and ``truth_social.jsonl`` beside ``truth.jsonl``: which contact is behind each
platform author id (kept apart from what the sandbox serves).

Same arguments → byte-identical files; contacts are streamed, and the
comments are written as they are drawn.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any

from sandbox import communes as communes_mod

log = logging.getLogger(__name__)

SOCIAL_DIR = "social"
TRUTH_SOCIAL_FILE = "truth_social.jsonl"
FB_POSTS = "facebook_posts.jsonl"
FB_COMMENTS = "facebook_comments.jsonl"
FB_INSIGHTS = "facebook_ad_insights.jsonl"
LI_POSTS = "linkedin_posts.jsonl"
LI_COMMENTS = "linkedin_comments.jsonl"
LI_FOLLOWERS = "linkedin_follower_statistics.json"
LI_GEO = "linkedin_geo.json"

# The brand's accounts in the sandbox (the connectors' sandbox defaults use the same values).
FACEBOOK_PAGE_ID = "104857600000001"
AD_ACCOUNT_ID = "1000000001"
LINKEDIN_ORG_ID = "10480001"
LINKEDIN_ORG_URN = f"urn:li:organization:{LINKEDIN_ORG_ID}"

DAYS = 90
FB_POSTS_PER_WEEK = 3
LI_POSTS_PER_WEEK = 2
FB_COMMENTER_SHARE = 0.40
LI_COMMENTER_SHARE = {"tech_professional": 0.35, "premium_senior": 0.12}
LI_COMMENTER_DEFAULT = 0.06
OFF_TOPIC_SHARE = 0.10
REPLY_SHARE = 0.12

FRENCH_SHARE = {"FR": 0.95, "BE": 0.6, "LU": 0.6}  # others: 5 % French, else English
AGE_BRACKETS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
GENDERS = ("female", "male", "unknown")
# INSEE region name → Facebook's region name for the `region` breakdown
FACEBOOK_REGIONS = {
    "Île-de-France": "Île-de-France",
    "Auvergne-Rhône-Alpes": "Auvergne-Rhône-Alpes",
    "Provence-Alpes-Côte d'Azur": "Provence-Alpes-Côte d'Azur",
    "Nouvelle-Aquitaine": "Nouvelle-Aquitaine",
    "Occitanie": "Occitanie",
    "Hauts-de-France": "Hauts-de-France",
    "Grand Est": "Grand Est",
    "Bretagne": "Brittany",
    "Pays de la Loire": "Pays de la Loire",
    "Normandie": "Normandy",
    "Bourgogne-Franche-Comté": "Bourgogne-Franche-Comté",
    "Centre-Val de Loire": "Centre-Val de Loire",
    "Corse": "Corsica",
}
# LinkedIn geo URNs of the countries; French regions get sandbox URNs (look real ones up with GET /rest/geo)
COUNTRY_GEO = {
    "FR": "urn:li:geo:105015875",
    "BE": "urn:li:geo:100565514",
    "DE": "urn:li:geo:101282230",
    "ES": "urn:li:geo:105646813",
    "IT": "urn:li:geo:103350119",
    "NL": "urn:li:geo:102890719",
    "PT": "urn:li:geo:100364837",
    "LU": "urn:li:geo:104042105",
}
COUNTRY_NAMES = {
    "FR": "France",
    "BE": "Belgium",
    "DE": "Germany",
    "ES": "Spain",
    "IT": "Italy",
    "NL": "Netherlands",
    "PT": "Portugal",
    "LU": "Luxembourg",
}
SENIORITIES = {  # LinkedIn seniority URN ids
    1: "Unpaid",
    2: "Training",
    3: "Entry",
    4: "Senior",
    5: "Manager",
    6: "Director",
    7: "VP",
    8: "CXO",
    9: "Partner",
    10: "Owner",
}
INDUSTRIES = {  # LinkedIn industry URN ids (industry taxonomy V2)
    4: "Software Development",
    6: "Technology, Information and Internet",
    19: "Retail Apparel and Fashion",
    27: "Retail",
    80: "Advertising Services",
    96: "IT Services and IT Consulting",
    18: "Personal Care Product Manufacturing",
    34: "Food and Beverage Services",
    30: "Travel Arrangements",
    124: "Wellness and Fitness Services",
}

# -- wording ----------------------------------------------------------------------------------
# Per cluster and language: templates with {a}/{b} slots filled from the cluster's vocabulary.
VOCAB: dict[str, dict[str, tuple[str, ...]]] = {
    "eco_fashion": {
        "fr": (
            "coton bio",
            "lin",
            "jean recyclé",
            "mode éthique",
            "seconde main",
            "matières naturelles",
            "upcycling",
            "fabrication française",
            "chanvre",
            "laine mérinos",
        ),
        "en": (
            "organic cotton",
            "linen",
            "recycled denim",
            "ethical fashion",
            "second-hand",
            "natural fabrics",
            "upcycling",
            "fair trade",
            "hemp",
            "merino wool",
        ),
    },
    "tech": {
        "fr": (
            "clavier mécanique",
            "écouteurs sans fil",
            "écran 4K",
            "autonomie de la batterie",
            "montre connectée",
            "ordinateur reconditionné",
            "hub USB-C",
            "mise à jour du firmware",
            "Bluetooth",
            "processeur",
        ),
        "en": (
            "mechanical keyboard",
            "wireless earbuds",
            "4K monitor",
            "battery life",
            "smartwatch",
            "refurbished laptop",
            "USB-C hub",
            "firmware update",
            "Bluetooth pairing",
            "processor",
        ),
    },
    "outdoor": {
        "fr": (
            "randonnée",
            "trail",
            "sac à dos",
            "tente",
            "bivouac",
            "frontale",
            "doudoune",
            "sentier",
            "GR20",
            "chaussures de trail",
        ),
        "en": (
            "hiking",
            "trail running",
            "backpack",
            "tent",
            "wild camping",
            "headlamp",
            "down jacket",
            "mountain trail",
            "summit",
            "trail shoes",
        ),
    },
    "home_deco": {
        "fr": (
            "linge de lit en lin",
            "vase en céramique",
            "fauteuil en rotin",
            "tapis en laine",
            "bougie parfumée",
            "table en chêne",
            "salon",
            "déco scandinave",
            "chambre",
            "luminaire",
        ),
        "en": (
            "linen bedding",
            "ceramic vase",
            "rattan armchair",
            "wool rug",
            "scented candle",
            "oak table",
            "living room",
            "Scandinavian decor",
            "bedroom",
            "lighting",
        ),
    },
    "beauty": {
        "fr": (
            "sérum vitamine C",
            "shampoing solide",
            "crème de nuit",
            "écran solaire",
            "parfum",
            "routine skincare",
            "peau sensible",
            "baume à lèvres",
            "cosmétiques bio",
            "hydratation",
        ),
        "en": (
            "vitamin C serum",
            "solid shampoo",
            "night cream",
            "sunscreen",
            "perfume",
            "skincare routine",
            "sensitive skin",
            "lip balm",
            "clean beauty",
            "hydration",
        ),
    },
    "gastronomy": {
        "fr": (
            "huile d'olive",
            "plateau de fromages",
            "vin de Bordeaux",
            "chocolat noir",
            "café de spécialité",
            "huile de truffe",
            "recette",
            "dégustation",
            "terroir",
            "accord mets et vins",
        ),
        "en": (
            "olive oil",
            "cheese board",
            "Bordeaux wine",
            "dark chocolate",
            "specialty coffee",
            "truffle oil",
            "recipe",
            "tasting",
            "local produce",
            "wine pairing",
        ),
    },
    "travel": {
        "fr": (
            "valise cabine",
            "week-end",
            "road trip",
            "city break",
            "coussin de voyage",
            "casque à réduction de bruit",
            "escale",
            "vol long-courrier",
            "guide de voyage",
            "vacances",
        ),
        "en": (
            "cabin suitcase",
            "weekend getaway",
            "road trip",
            "city break",
            "travel pillow",
            "noise-cancelling headphones",
            "layover",
            "long-haul flight",
            "travel guide",
            "holidays",
        ),
    },
}
TEMPLATES: dict[str, tuple[str, ...]] = {
    "fr": (
        "{a}, j'adore ! Et côté {b}, vous avez quelque chose ?",
        "Enfin ! {a}, je cherchais ça depuis longtemps. Et pour {b} ?",
        "Super idée, {a} c'est mon truc. Hâte de tester avec {b}",
        "Question : {a} dispo en boutique ? Fan de {b} ici",
        "Top ! {a} et {b}, exactement ce qu'il me faut",
        "Déjà commandé ({a}), aucun regret. Prochaine étape : {b}",
        "Un article sur {a} et {b}, ce serait top",
    ),
    "en": (
        "Love the {a}! Do you have any {b} too?",
        "Finally some {a}, been looking for this for ages. What about {b}?",
        "Great idea, {a} is my thing. Can't wait to try it with {b}",
        "Is the {a} available in store? Big fan of {b}",
        "{a} and {b}, exactly what I needed",
        "Already ordered for the {a}, very happy. Next up: {b}",
        "Could you do a post about {a} and {b}?",
    ),
}
NOISE: dict[str, tuple[str, ...]] = {
    "fr": ("Merci !", "Super 👍", "Trop bien", "Génial", "J'en parle à ma sœur", "Bravo à l'équipe", "😍😍"),
    "en": ("Thanks!", "Nice 👍", "Awesome", "Love it", "Tagging my friend", "Well done team", "😍😍"),
}
EMOJI = ("", "", "", " 😍", " 👍", " 🙌", " !!", " 🔥")
POST_TEXT: dict[str, str] = {
    "eco_fashion": "Nouvelle collection en matières responsables : coton bio, lin et jean recyclé.",
    "tech": "Nos accessoires high-tech préférés de la saison : écouteurs, claviers et écrans.",
    "outdoor": "Prêts pour l'aventure ? Notre sélection randonnée et trail est en ligne.",
    "home_deco": "Une maison douce pour l'automne : lin, céramique et bois massif.",
    "beauty": "Routine beauté simple et efficace : nos soins essentiels du moment.",
    "gastronomy": "Le goût du terroir : huiles, fromages et vins sélectionnés pour vous.",
    "travel": "Envie d'ailleurs ? Tout pour voyager léger ce week-end.",
}
LI_POST_TEXT: dict[str, str] = {
    "eco_fashion": "How we cut our textile footprint by 30% with recycled fibres.",
    "tech": "Inside our e-commerce platform: how we ship features every day.",
    "outdoor": "Our team took the GR20 challenge: what it taught us about resilience.",
    "home_deco": "Design meets craftsmanship: meet the makers behind our home collection.",
    "beauty": "Clean beauty: our commitments on ingredients and packaging.",
    "gastronomy": "Partnering with local producers across French regions.",
    "travel": "Remote-friendly: how our teams work from anywhere in Europe.",
}


def _graph_time(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _display_name(first: str | None, last: str | None, u: float) -> str | None:
    """The name as the person shows it on a social platform, from the CRM's (messy) typing."""

    def clean(value: str | None) -> str:
        value = (value or "").strip()
        if value and (value.isupper() or value.islower()):
            value = value.title()
        return value

    f, ln = clean(first), clean(last)
    if not f or not ln:
        return None
    if u < 0.85:
        return f"{f} {ln}"
    if u < 0.95:  # typed without accents
        strip = lambda s: "".join(  # noqa: E731
            c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)
        )
        return f"{strip(f)} {strip(ln)}"
    return f"{f} {ln[0]}."


def _age_bracket(age: int) -> str | None:
    if age < 18:
        return None
    for bracket in AGE_BRACKETS[:-1]:
        lo, hi = (int(x) for x in bracket.split("-"))
        if lo <= age <= hi:
            return bracket
    return "65+"


def _contacts(out_dir: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(contact properties with id, truth) pairs, streamed."""
    with (
        open(out_dir / "hubspot_contacts.jsonl", encoding="utf-8") as cfh,
        open(out_dir / "truth.jsonl", encoding="utf-8") as tfh,
    ):
        for cline, tline in zip(cfh, tfh, strict=True):
            contact, truth = json.loads(cline), json.loads(tline)
            if contact["id"] != truth["contact_id"]:
                raise ValueError(f"world files out of step at contact {contact['id']}; regenerate the world")
            yield contact, truth


def _comment_text(rng: Random, cluster: str, lang: str) -> str:
    if rng.random() < OFF_TOPIC_SHARE:
        return rng.choice(NOISE[lang])
    vocab = VOCAB[cluster][lang]
    a, b = rng.sample(vocab, 2)
    text = rng.choice(TEMPLATES[lang]).format(a=a, b=b)
    return text + rng.choice(EMOJI)


def _posts(rng: Random, start: int, end: int, per_week: int) -> list[tuple[int, str]]:
    """(unix time, topic) of the brand's posts, oldest first."""
    topics = list(VOCAB)
    out = []
    n = DAYS * per_week // 7
    for k in range(n):
        ts = start + int((end - start - 86_400) * (k + rng.random() * 0.5) / n) + rng.randrange(8, 20) * 3600
        out.append((ts, topics[(k * 3 + rng.randrange(2)) % len(topics)]))
    return sorted(out)


def generate(out_dir: Path, *, seed: int, as_of: datetime) -> dict[str, Any]:
    """Write the social files (see the module docstring) and return their counts."""
    out_dir = Path(out_dir)
    social = out_dir / SOCIAL_DIR
    social.mkdir(parents=True, exist_ok=True)
    rng = Random(seed * 7919 + 101)
    end = int(as_of.timestamp())
    start = end - DAYS * 86_400

    fb_posts = _posts(rng, start, end, FB_POSTS_PER_WEEK)
    li_posts = _posts(rng, start, end, LI_POSTS_PER_WEEK)
    fb_ids = [f"{FACEBOOK_PAGE_ID}_{1_000_000_000 + 7919 * (k + 1)}" for k in range(len(fb_posts))]
    li_ids = [f"urn:li:share:{7_300_000_000_000_000_000 + 104_729 * (k + 1)}" for k in range(len(li_posts))]
    fb_by_topic: dict[str, list[int]] = {}
    for k, (_, topic) in enumerate(fb_posts):
        fb_by_topic.setdefault(topic, []).append(k)
    li_by_topic: dict[str, list[int]] = {}
    for k, (_, topic) in enumerate(li_posts):
        li_by_topic.setdefault(topic, []).append(k)

    with open(social / FB_POSTS, "w", encoding="utf-8") as fh:
        for pid, (ts, topic) in zip(fb_ids, fb_posts, strict=True):
            post = {
                "id": pid,
                "message": POST_TEXT[topic],
                "created_time": _graph_time(ts),
                "updated_time": _graph_time(ts + rng.randrange(0, 3600)),
                "permalink_url": f"https://www.facebook.com/{FACEBOOK_PAGE_ID}/posts/{pid.split('_')[1]}",
            }
            fh.write(json.dumps(post, ensure_ascii=False) + "\n")
    with open(social / LI_POSTS, "w", encoding="utf-8") as fh:
        for urn, (ts, topic) in zip(li_ids, li_posts, strict=True):
            post = {
                "id": urn,
                "author": LINKEDIN_ORG_URN,
                "commentary": LI_POST_TEXT[topic],
                "visibility": "PUBLIC",
                "lifecycleState": "PUBLISHED",
                "createdAt": ts * 1000,
                "publishedAt": ts * 1000,
                "lastModifiedAt": ts * 1000 + rng.randrange(0, 3_600_000),
                "distribution": {
                    "feedDistribution": "MAIN_FEED",
                    "targetEntities": [],
                    "thirdPartyDistributionChannels": [],
                },
                "isReshareDisabledByAuthor": False,
            }
            fh.write(json.dumps(post, ensure_ascii=False) + "\n")

    age_gender: Counter[tuple[str, str]] = Counter()
    regions: Counter[str] = Counter()
    li_geo: Counter[str] = Counter()
    li_country: Counter[str] = Counter()
    li_seniority: Counter[int] = Counter()
    li_industry: Counter[int] = Counter()
    region_of_zip = {c.postal_code: c.region for c in communes_mod.load()}
    region_geo = {name: f"urn:li:geo:{90_009_000 + i}" for i, name in enumerate(sorted(FACEBOOK_REGIONS))}
    fb_comments = li_comments = fb_authors = li_authors = 0
    fb_last: dict[int, str] = {}  # post index -> last comment id (for replies)

    with (
        open(social / FB_COMMENTS, "w", encoding="utf-8") as fb_fh,
        open(social / LI_COMMENTS, "w", encoding="utf-8") as li_fh,
        open(out_dir / TRUTH_SOCIAL_FILE, "w", encoding="utf-8") as truth_fh,
    ):
        for contact, truth in _contacts(out_dir):
            props = contact.get("properties") or {}
            country = truth["country_code"]
            cluster = truth["interest_cluster"]
            bracket = _age_bracket(int(truth["age"]))
            if bracket:
                gender = {"f": "female", "m": "male"}[truth["gender"]] if rng.random() > 0.04 else "unknown"
                age_gender[(bracket, gender)] += 1
            zipcode = str(props.get("zip") or "").strip()
            region = (
                (region_of_zip.get(zipcode) or region_of_zip.get("0" + zipcode)) if country == "FR" else None
            )
            if region:
                regions[region] += 1
            name = _display_name(props.get("firstname"), props.get("lastname"), rng.random())
            lang = "fr" if rng.random() < FRENCH_SHARE.get(country, 0.05) else "en"
            # -- Facebook
            if name and rng.random() < FB_COMMENTER_SHARE:
                psid = str(2_400_000_000_000_000 + rng.randrange(10**15))
                truth_fh.write(
                    json.dumps({"platform": "facebook", "author_id": psid, "contact_id": contact["id"]})
                    + "\n"
                )
                fb_authors += 1
                for _ in range(1 + int(rng.random() ** 2 * 3)):
                    own = fb_by_topic.get(cluster)
                    k = rng.choice(own) if own and rng.random() < 0.75 else rng.randrange(len(fb_posts))
                    post_ts = fb_posts[k][0]
                    ts = min(end - 1, post_ts + 60 + int(rng.random() ** 3 * 14 * 86_400))
                    fb_comments += 1
                    cid = f"{fb_ids[k].split('_')[1]}_{5_000_000 + fb_comments}"
                    comment: dict[str, Any] = {
                        "id": cid,
                        "created_time": _graph_time(ts),
                        "from": {"id": psid, "name": name},
                        "message": _comment_text(rng, cluster, lang),
                        "like_count": int(rng.random() ** 4 * 40),
                    }
                    if k in fb_last and rng.random() < REPLY_SHARE:
                        comment["parent"] = {"id": fb_last[k]}
                    fb_last[k] = cid
                    fb_fh.write(
                        json.dumps({"post_id": fb_ids[k], "comment": comment}, ensure_ascii=False) + "\n"
                    )
            # -- LinkedIn: members and followers
            share = LI_COMMENTER_SHARE.get(truth["persona"], LI_COMMENTER_DEFAULT)
            if rng.random() < 0.3 + share:  # follows the organisation
                li_country[COUNTRY_GEO[country]] += 1
                if region:
                    li_geo[region_geo[region]] += 1
                li_seniority[_seniority(rng, truth)] += 1
                li_industry[_industry(rng, cluster)] += 1
            if name and rng.random() < share:
                member = "urn:li:person:" + "".join(
                    rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
                    for _ in range(10)
                )
                truth_fh.write(
                    json.dumps({"platform": "linkedin", "author_id": member, "contact_id": contact["id"]})
                    + "\n"
                )
                li_authors += 1
                own = li_by_topic.get(cluster)
                k = rng.choice(own) if own and rng.random() < 0.75 else rng.randrange(len(li_posts))
                ts_ms = (min(end - 1, li_posts[k][0] + 300 + int(rng.random() ** 3 * 10 * 86_400))) * 1000
                ts_ms += rng.randrange(1000)
                li_comments += 1
                comment_id = str(7_380_000_000_000_000_000 + li_comments)
                activity = f"urn:li:activity:{li_ids[k].rsplit(':', 1)[1]}"
                li_fh.write(
                    json.dumps(
                        {
                            "post": li_ids[k],
                            "comment": {
                                "id": comment_id,
                                "$URN": f"urn:li:comment:({activity},{comment_id})",
                                "commentUrn": f"urn:li:comment:({activity},{comment_id})",
                                "actor": member,
                                "object": activity,
                                "message": {"text": _comment_text(rng, cluster, lang), "attributes": []},
                                "created": {"actor": member, "time": ts_ms},
                                "lastModified": {"actor": member, "time": ts_ms},
                                "likesSummary": {
                                    "totalLikes": int(rng.random() ** 4 * 25),
                                    "likedByCurrentUser": False,
                                },
                            },
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )

    insight_rows = _write_insights(social / FB_INSIGHTS, rng, as_of, age_gender, regions)
    stats = {
        "organizationalEntity": LINKEDIN_ORG_URN,
        "followerCountsByGeoCountry": [
            {"geo": geo, "followerCounts": _split(rng, n)} for geo, n in sorted(li_country.items())
        ],
        "followerCountsByGeo": [
            {"geo": geo, "followerCounts": _split(rng, n)} for geo, n in sorted(li_geo.items())
        ],
        "followerCountsBySeniority": [
            {"seniority": f"urn:li:seniority:{s}", "followerCounts": _split(rng, n)}
            for s, n in sorted(li_seniority.items())
        ],
        "followerCountsByIndustry": [
            {"industry": f"urn:li:industry:{i}", "followerCounts": _split(rng, n)}
            for i, n in sorted(li_industry.items())
        ],
        "followerCountsByFunction": [],
        "followerCountsByStaffCountRange": [],
        "followerCountsByAssociationType": [],
    }
    (social / LI_FOLLOWERS).write_text(
        json.dumps(stats, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    geo_names = {COUNTRY_GEO[c]: name for c, name in COUNTRY_NAMES.items()} | {
        urn: name for name, urn in region_geo.items()
    }
    (social / LI_GEO).write_text(json.dumps(geo_names, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    counts = {
        "facebook_posts": len(fb_posts),
        "facebook_comments": fb_comments,
        "facebook_authors": fb_authors,
        "facebook_ad_insight_rows": insight_rows,
        "linkedin_posts": len(li_posts),
        "linkedin_comments": li_comments,
        "linkedin_authors": li_authors,
    }
    log.info("world: social %s", counts)
    return counts


def _split(rng: Random, n: int) -> dict[str, int]:
    paid = int(n * (0.05 + 0.1 * rng.random()))
    return {"organicFollowerCount": n - paid, "paidFollowerCount": paid}


def _seniority(rng: Random, truth: dict[str, Any]) -> int:
    age = int(truth["age"])
    if age < 23:
        return rng.choice((1, 2, 3))
    if age < 30:
        return rng.choice((3, 3, 4))
    if truth["persona"] == "tech_professional":
        return rng.choice((4, 5, 6, 7, 8))
    if age >= 58:
        return rng.choice((6, 8, 9, 10))
    return rng.choice((4, 4, 5, 6))


def _industry(rng: Random, cluster: str) -> int:
    by_cluster = {
        "eco_fashion": (19, 27),
        "tech": (4, 6, 96),
        "outdoor": (124, 27),
        "home_deco": (27, 80),
        "beauty": (18, 27),
        "gastronomy": (34, 27),
        "travel": (30, 80),
    }
    return rng.choice(by_cluster[cluster]) if rng.random() < 0.6 else rng.choice(tuple(INDUSTRIES))


ADS = (
    # ad id, name, campaign id, campaign name, first day, last day (offsets in the 90-day window), daily reach
    (
        "120200000000000101",
        "Eco collection - carousel",
        "120200000000000011",
        "Autumn eco collection",
        0,
        59,
        2600,
    ),
    (
        "120200000000000102",
        "Eco collection - video",
        "120200000000000011",
        "Autumn eco collection",
        20,
        89,
        1800,
    ),
    ("120200000000000103", "Tech week - single image", "120200000000000012", "Tech week", 45, 70, 3400),
    (
        "120200000000000104",
        "Retargeting - dynamic",
        "120200000000000013",
        "Always-on retargeting",
        0,
        89,
        900,
    ),
)


def _write_insights(
    path: Path,
    rng: Random,
    as_of: datetime,
    age_gender: Counter[tuple[str, str]],
    regions: Counter[str],
) -> int:
    """Daily ad rows for the two breakdowns, shaped by the world's demography."""
    first = (as_of - timedelta(days=DAYS)).date()
    ag_total = sum(age_gender.values()) or 1
    rg_total = sum(regions.values()) or 1
    rows = 0
    with open(path, "w", encoding="utf-8") as fh:
        for offset in range(DAYS):
            day = (first + timedelta(days=offset)).isoformat()
            for ad_id, ad_name, campaign_id, campaign_name, lo, hi, base in ADS:
                if not lo <= offset <= hi:
                    continue
                daily = (
                    base
                    * (0.7 + 0.6 * rng.random())
                    * (1.25 if (first + timedelta(days=offset)).weekday() >= 5 else 1)
                )
                cells: list[tuple[dict[str, str], float]] = [
                    ({"age": a, "gender": g}, n / ag_total) for (a, g), n in sorted(age_gender.items())
                ] + [
                    ({"region": FACEBOOK_REGIONS.get(r, r)}, n / rg_total) for r, n in sorted(regions.items())
                ]
                for dims, share in cells:
                    reach = int(daily * share * (0.6 + 0.8 * rng.random()))
                    if reach <= 0:
                        continue
                    impressions = int(reach * (1.05 + 0.6 * rng.random()))
                    clicks = int(impressions * (0.004 + 0.02 * rng.random()))
                    spend = impressions * (4.0 + 6.0 * rng.random()) / 1000
                    row = {
                        "breakdown": "region" if "region" in dims else "age,gender",
                        "account_id": AD_ACCOUNT_ID,
                        "campaign_id": campaign_id,
                        "campaign_name": campaign_name,
                        "ad_id": ad_id,
                        "ad_name": ad_name,
                        "date_start": day,
                        "date_stop": day,
                        **dims,
                        "impressions": str(impressions),
                        "reach": str(reach),
                        "clicks": str(clicks),
                        "spend": f"{spend:.2f}",
                    }
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                    rows += 1
    return rows
