"""Psychographic profiles: social comment authors clustered by the interests their words show.

Runs between ingestion and dbt (``run(conn)``); dbt reads its tables as the source
``ml_psychographic``.

1. **Text.** The latest version of every Facebook and LinkedIn comment is read from ``raw``
   through a server-side cursor, cleaned, its language detected (French / English), and
   lemmatised (``audience.ml.text``). Only content lemmas are kept per author (no raw text
   is held or written), and of the comments only counts (``CommentCounts``).
2. **Embedding.** One document per *author* (all their comments). Terms are weighted by
   TF-IDF, then projected onto the posts the comments were written under: each term's
   vector is its positive PMI with each post (context-distribution smoothing 0.75). Words
   said under every post alike ("can't wait", "déjà commandé") get ~zero weight, and the
   French and English words used under the same posts land together, so one cluster holds
   both languages. The author vectors are reduced to their top singular directions (exactly,
   through the posts' Gram matrix when the posts are few; TruncatedSVD otherwise) and
   L2-normalised: that is the embedding stored in pgvector (``ml.author_embeddings``, ``real[]`` when the server
   has no ``vector`` extension). With fewer than three posts to learn from, plain LSA over the
   TF-IDF matrix is used instead. (Plain LSA was measured on the 5,000-contact world: it
   clusters comment *templates*, not interests — adjusted Rand index about 0.)
3. **Clusters.** KMeans and agglomerative clustering (average linkage, cosine) are tried for
   every k in ``k_min..k_max``; the (algorithm, k) with the best cosine silhouette wins,
   ties going to fewer clusters, then KMeans. Every candidate's silhouette and inertia
   (within-cluster sum of squares, the elbow) is kept in ``ml.cluster_selection``. With more
   than ``k_selection_sample`` (20,000) authors, the candidates are tried on a seeded sample of
   that many (KMeans only; inertias scaled to all authors) and the chosen k is fitted on every
   author from the sample's centres.
4. **Names.** A cluster's top terms are the words whose mean TF-IDF in the cluster most exceeds
   their mean over all authors (shown as most often written); its name is the first three.

Authors with no content word that the model knows (emoji-only or off-topic comments, fewer than
``min_terms`` content words) keep ``has_text`` but get no cluster: they are not forced into one.

Each run replaces the previous one in one transaction (readers never see a mix); the run
history stays in ``ml.psychographic_runs``.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg

from audience.ml import limited_threads
from audience.ml import text as textmod

log = logging.getLogger(__name__)

EMBEDDING_DIM = 64

DDL = f"""
create schema if not exists ml;
create table if not exists ml.psychographic_runs (
    run_id          text primary key,
    started_at      timestamptz not null,
    finished_at     timestamptz not null,
    authors         integer not null,
    clustered_authors integer not null,
    algorithm       text,
    k               integer,
    silhouette      double precision,
    embedding_type  text not null,
    seed            integer not null
);
create table if not exists ml.text_authors (
    run_id          text not null,
    platform        text not null,
    author_id       text not null,
    language        text,
    comment_count   integer not null,
    content_term_count integer not null,
    last_comment_at timestamptz,
    has_text        boolean not null,
    created_at      timestamptz not null default now(),
    primary key (platform, author_id)
);
do $$
begin
    if not exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                   where n.nspname = 'ml' and c.relname = 'author_embeddings') then
        if exists (select 1 from pg_type where typname = 'vector') then
            create table ml.author_embeddings (
                run_id text not null, platform text not null, author_id text not null,
                embedding vector({EMBEDDING_DIM}) not null,
                created_at timestamptz not null default now(), primary key (platform, author_id));
        else
            create table ml.author_embeddings (
                run_id text not null, platform text not null, author_id text not null,
                embedding real[] not null,
                created_at timestamptz not null default now(), primary key (platform, author_id));
        end if;
    end if;
end
$$;
create table if not exists ml.author_clusters (
    run_id          text not null,
    platform        text not null,
    author_id       text not null,
    cluster_id      integer,
    similarity      real,
    created_at      timestamptz not null default now(),
    primary key (platform, author_id)
);
create table if not exists ml.interest_clusters (
    run_id          text not null,
    cluster_id      integer not null primary key,
    cluster_name    text not null,
    top_terms       text[] not null,
    size            integer not null,
    created_at      timestamptz not null default now()
);
create table if not exists ml.cluster_selection (
    run_id          text not null,
    algorithm       text not null,
    k               integer not null,
    silhouette      double precision,
    inertia         double precision not null,
    is_chosen       boolean not null,
    created_at      timestamptz not null default now(),
    primary key (algorithm, k)
);
"""

COMMENTS_SQL = """
select * from (
    select distinct on (_record_id)
        'facebook' as platform,
        payload -> 'from' ->> 'id' as author_id,
        payload ->> 'message' as message,
        payload ->> 'post_id' as post_id,
        (payload ->> 'created_time')::timestamptz as created_at
    from raw.facebook__comments
    order by _record_id, _updated_at desc nulls last, _loaded_at desc
) fb
union all
select * from (
    select distinct on (_record_id)
        'linkedin' as platform,
        coalesce(payload ->> 'actor', payload -> 'created' ->> 'actor') as author_id,
        payload -> 'message' ->> 'text' as message,
        coalesce(payload ->> 'object', payload ->> 'post') as post_id,
        to_timestamp((payload -> 'created' ->> 'time')::double precision / 1000) as created_at
    from raw.linkedin__comments
    order by _record_id, _updated_at desc nulls last, _loaded_at desc
) li
"""


@dataclass(frozen=True)
class Settings:
    """Model settings (``run`` keyword arguments; the DAG may pass them as params)."""

    k_min: int = 2
    k_max: int = 15
    min_terms: int = 1  # content words an author needs to be clustered
    min_df: int = 3  # comments a word must appear in to be a feature
    dims: int = EMBEDDING_DIM
    top_terms: int = 10
    max_agglomerative: int = 8000  # above this many authors, only KMeans (linkage is O(n²) memory)
    silhouette_sample: int = 5000
    # above this many authors, k is chosen on a random sample of this many and only the chosen k
    # is fitted on all of them (14 candidates × 10 KMeans runs on every author were 177 s of the
    # model's 303 s at 1M contacts: README, Benchmark)
    k_selection_sample: int = 20000

    def check(self) -> None:
        if self.k_selection_sample <= max(self.silhouette_sample, self.max_agglomerative):
            raise ValueError(
                f"k_selection_sample={self.k_selection_sample} must be above silhouette_sample "
                f"({self.silhouette_sample}) and max_agglomerative ({self.max_agglomerative})"
            )
        if not 2 <= self.k_min <= self.k_max:
            raise ValueError(f"k range {self.k_min}..{self.k_max} is empty; need 2 <= k_min <= k_max")
        if not 2 <= self.dims <= EMBEDDING_DIM:
            raise ValueError(f"dims={self.dims} must be between 2 and {EMBEDDING_DIM} (the vector column)")
        if self.min_terms < 1 or self.min_df < 1:
            raise ValueError("min_terms and min_df must be at least 1")


@dataclass(slots=True)
class Author:
    # slots, and no per-author Counter: half a million authors at 1M contacts
    platform: str
    author_id: str
    comment_count: int = 0
    last_comment_at: datetime | None = None
    languages: dict[str, int] | None = None
    lemmas: list[str] = field(default_factory=list)
    has_text: bool = False

    @property
    def language(self) -> str | None:
        if not self.languages:
            return None
        (lang, _), *_ = sorted(self.languages.items(), key=lambda kv: (-kv[1], kv[0]))
        return lang


@dataclass
class CommentCounts:
    """What the embedding needs of the comments, counted as they are read (the comments
    themselves are not kept): how many, in how many comments each lemma occurs, and under each
    post in how many comments each lemma occurs."""

    comments: int = 0
    document_frequency: Counter[str] = field(default_factory=Counter)
    post_terms: Counter[tuple[str, str]] = field(default_factory=Counter)


@dataclass(frozen=True)
class Candidate:
    algorithm: str
    k: int
    silhouette: float | None
    inertia: float
    labels: np.ndarray
    centers: np.ndarray | None = None  # KMeans only


# --------------------------------------------------------------------------- reading


def _stream_comments(conn: psycopg.Connection, batch: int = 2000) -> Iterator[tuple]:
    with conn.cursor(name=f"psycho_comments_{uuid.uuid4().hex[:8]}") as cur:
        cur.itersize = batch
        cur.execute(COMMENTS_SQL)
        yield from cur


def read_authors(
    rows: Iterable[tuple],
) -> tuple[list[Author], CommentCounts, Counter[str], dict[str, Counter[str]]]:
    """From (platform, author_id, message, post_id, created_at) rows: the authors (first seen
    first) with their content lemmas, the comments' counts (:class:`CommentCounts`), counts of
    skipped rows, and the written forms of each lemma (to show terms as people write them)."""
    authors: list[Author] = []
    index: dict[tuple[str, str], int] = {}
    pending: deque[tuple[int, str]] = deque()  # (author index, post id) of rows read, not yet lemmatised
    skipped: Counter[str] = Counter()

    def items() -> Iterator[tuple[str, str | None]]:
        for platform, author_id, message, post_id, created_at in rows:
            if not author_id:
                skipped["no_author"] += 1
                continue
            key = (platform, str(author_id))
            if key not in index:
                index[key] = len(authors)
                authors.append(Author(platform, str(author_id)))
            author = authors[index[key]]
            author.comment_count += 1
            if created_at and (author.last_comment_at is None or created_at > author.last_comment_at):
                author.last_comment_at = created_at
            cleaned = textmod.clean_comment(message)
            lang = textmod.language_of_cleaned(cleaned)
            if lang:
                if author.languages is None:
                    author.languages = {}
                author.languages[lang] = author.languages.get(lang, 0) + 1
            author.has_text = author.has_text or bool(cleaned)
            pending.append((index[key], sys.intern(str(post_id)) if post_id else ""))
            yield cleaned, lang

    counts = CommentCounts()
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    # lemmatise() yields a row's result only after items() has produced (and recorded) that row
    for pairs in textmod.lemmatise(items()):
        author_index, post_id = pending.popleft()
        lemmas = [lemma for lemma, _ in pairs]
        for lemma, word in pairs:
            forms[lemma][word] += 1
        authors[author_index].lemmas.extend(lemmas)
        distinct = set(lemmas)
        counts.comments += 1
        counts.document_frequency.update(distinct)
        if post_id and distinct:
            counts.post_terms.update((post_id, term) for term in distinct)
    return authors, counts, skipped, forms


# --------------------------------------------------------------------------- embedding


@dataclass(frozen=True)
class Embedding:
    vectors: np.ndarray  # (authors, dims), rows L2-normalised (zero rows: nothing known)
    tfidf: Any  # sparse (authors, terms)
    terms: np.ndarray
    method: str  # 'post_ppmi_svd' or 'lsa'


def _context_ppmi(
    post_terms: Counter[tuple[str, str]], vocabulary: dict[str, int], alpha: float = 0.75
) -> np.ndarray | None:
    """Terms × posts positive PMI (context distribution smoothed by ``alpha``); None with < 3 posts.

    ``post_terms``: (post, lemma) -> comments under the post that hold the lemma."""
    posts = sorted({post for post, _ in post_terms})
    if len(posts) < 3:
        return None
    column = {post: j for j, post in enumerate(posts)}
    counts = np.zeros((len(vocabulary), len(posts)))
    for (post, term), n in post_terms.items():
        i = vocabulary.get(term)
        if i is not None:
            counts[i, column[post]] += n
    total = counts.sum()
    if total == 0:
        return None
    p_term = counts.sum(axis=1, keepdims=True) / total
    smoothed = counts.sum(axis=0) ** alpha
    p_post = smoothed / smoothed.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log((counts / total) / (p_term * p_post))
    pmi[~np.isfinite(pmi)] = 0.0
    return np.maximum(pmi, 0.0)


GRAM_MAX_COLUMNS = 4096  # a dense space this narrow is reduced through its Gram matrix


def _top_components(x: np.ndarray, n_components: int) -> np.ndarray:
    """``x`` projected on its top ``n_components`` right singular vectors, exactly.

    What TruncatedSVD(...).fit_transform(x) gives (x @ V, each component's sign set so that its
    largest entry is positive, as sklearn's ``svd_flip(u_based_decision=False)``), found from the
    columns' Gram matrix: x has as many columns as posts (tens), and the randomized solver held
    several (rows x components) arrays plus a centred copy of x at once, about 840 MB at 1M
    contacts, where this holds only the result."""
    gram = x.T @ x
    values, vectors = np.linalg.eigh(gram)  # ascending eigenvalues
    top = np.argsort(values, kind="stable")[::-1][:n_components]
    components = vectors[:, top].T.copy()
    largest = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(components.shape[0]), largest])
    signs[signs == 0] = 1.0
    components *= signs[:, None]
    return x @ components.T


def embed(
    authors: Sequence[Author],
    comments: CommentCounts,
    *,
    dims: int,
    min_df: int,
    seed: int,
) -> Embedding:
    """Author vectors (see the module docstring): TF-IDF → post PPMI space → SVD → L2 norm."""
    from sklearn.decomposition import TruncatedSVD  # noqa: PLC0415
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415
    from sklearn.preprocessing import normalize  # noqa: PLC0415

    terms = sorted(t for t, n in comments.document_frequency.items() if n >= min_df)
    if not terms:
        return Embedding(np.zeros((len(authors), dims)), None, np.array([]), "none")
    vocabulary = {t: i for i, t in enumerate(terms)}
    vectoriser = TfidfVectorizer(analyzer=lambda doc: doc, vocabulary=vocabulary, sublinear_tf=True)
    tfidf = vectoriser.fit_transform([a.lemmas for a in authors])
    ppmi = _context_ppmi(comments.post_terms, vocabulary)
    if ppmi is not None and ppmi.any():
        space, method = tfidf @ ppmi, "post_ppmi_svd"
    else:
        space, method = tfidf, "lsa"
    # the product is a new dense (authors x posts) array: normalised in place (at 1M contacts each
    # copy of it was hundreds of MB); TF-IDF itself is kept as it is for the top terms
    space = normalize(space, copy=method != "post_ppmi_svd")
    n_components = min(dims, space.shape[1] - 1, max(space.shape[0] - 1, 1))
    if n_components >= 2 and isinstance(space, np.ndarray) and space.shape[1] <= GRAM_MAX_COLUMNS:
        reduced = _top_components(space, n_components)
    elif n_components >= 2:
        reduced = TruncatedSVD(n_components=n_components, random_state=seed).fit_transform(space)
    else:
        reduced = np.asarray(space.todense() if hasattr(space, "todense") else space)
    del space
    vectors = np.zeros((len(authors), dims))
    vectors[:, : reduced.shape[1]] = normalize(reduced, copy=False)[:, :dims]
    return Embedding(vectors, tfidf, np.array(terms), method)


# --------------------------------------------------------------------------- clustering


def _inertia(x: np.ndarray, labels: np.ndarray) -> float:
    total = 0.0
    for label in np.unique(labels):
        members = x[labels == label]
        total += float(((members - members.mean(axis=0)) ** 2).sum())
    return total


def select_k(
    x: np.ndarray,
    k_min: int,
    k_max: int,
    *,
    seed: int = 0,
    max_agglomerative: int = 8000,
    silhouette_sample: int = 5000,
    k_selection_sample: int | None = None,
) -> tuple[Candidate, list[Candidate]]:
    """The (algorithm, k) with the best cosine silhouette, and every candidate tried.

    With more than ``k_selection_sample`` rows, the candidates are tried on a random sample of
    that many (their inertia scaled to all rows: × rows / sample) and the chosen k is then fitted
    on every row, starting from the sample's centres; that fit is the chosen candidate, in the
    list in place of its sample's."""
    from sklearn.cluster import KMeans  # noqa: PLC0415

    n = x.shape[0]
    if k_selection_sample is None or n <= k_selection_sample:
        return _select_k(x, k_min, k_max, seed, max_agglomerative, silhouette_sample)
    if k_selection_sample <= max_agglomerative:
        raise ValueError(
            f"k_selection_sample={k_selection_sample} must be above max_agglomerative={max_agglomerative}: "
            "only a KMeans k can be fitted on every author"
        )
    rows = np.sort(np.random.RandomState(seed).choice(n, k_selection_sample, replace=False))
    on_sample, candidates = _select_k(x[rows], k_min, k_max, seed, max_agglomerative, silhouette_sample)
    scale = n / k_selection_sample
    candidates = [
        Candidate(c.algorithm, c.k, c.silhouette, c.inertia * scale, np.empty(0, dtype=int))
        for c in candidates
    ]
    # the sample is larger than max_agglomerative, so the winner is a KMeans k. Every row is fitted
    # from the sample's winning centres: the solution the silhouette chose, refined on all rows (ten
    # fresh starts on all rows found, at 1M contacts, a worse solution of that k: silhouette 0.937
    # and inertia 3,482, against 0.986 and 3,410 from the sample's centres)
    km = KMeans(
        n_clusters=on_sample.k, init=on_sample.centers, n_init=1, random_state=seed, copy_x=False
    ).fit(x)
    silhouette = _silhouette_scorer(x, seed, silhouette_sample)
    best = Candidate("kmeans", on_sample.k, silhouette(km.labels_), float(km.inertia_), km.labels_)
    candidates = [best if (c.algorithm, c.k) == ("kmeans", best.k) else c for c in candidates]
    return best, candidates


def _silhouette_scorer(
    x: np.ndarray, seed: int, silhouette_sample: int
) -> Callable[[np.ndarray], float | None]:
    """The cosine silhouette of a labelling of ``x``, on a seeded sample of ``silhouette_sample`` rows."""
    from sklearn.metrics import silhouette_score  # noqa: PLC0415
    from sklearn.metrics.pairwise import cosine_similarity  # noqa: PLC0415

    n = x.shape[0]
    # the cosine distances between the sampled authors, computed once for every candidate (each
    # silhouette used to recompute them): the same sample silhouette_score(sample_size=...,
    # random_state=seed) draws, so the scores are the same
    if n > silhouette_sample:
        sample = np.random.RandomState(seed).permutation(n)[:silhouette_sample]
    else:
        sample = np.arange(n)
    # sklearn's cosine_distances, step for step, but clipped in place: its clip made a second
    # sample x sample matrix (200 MB for 5,000 authors) alive at the same time as the first
    distances = cosine_similarity(x[sample])
    distances *= -1
    distances += 1
    np.clip(distances, 0.0, 2.0, out=distances)
    np.fill_diagonal(distances, 0.0)

    def silhouette(labels: np.ndarray) -> float | None:
        if len(np.unique(labels)) < 2 or len(np.unique(labels[sample])) < 2:
            return None
        return float(silhouette_score(distances, labels[sample], metric="precomputed"))

    return silhouette


def _select_k(
    x: np.ndarray, k_min: int, k_max: int, seed: int, max_agglomerative: int, silhouette_sample: int
) -> tuple[Candidate, list[Candidate]]:
    from scipy.cluster.hierarchy import fcluster, linkage  # noqa: PLC0415
    from sklearn.cluster import KMeans  # noqa: PLC0415

    n = x.shape[0]
    k_max = min(k_max, n - 1)
    if k_max < k_min:
        raise ValueError(f"{n} authors are too few to choose between {k_min} and more clusters")
    silhouette = _silhouette_scorer(x, seed, silhouette_sample)
    candidates: list[Candidate] = []
    tree = linkage(x, method="average", metric="cosine") if n <= max_agglomerative else None
    for k in range(k_min, k_max + 1):
        # copy_x=False: KMeans centres x in place and adds the mean back (x may change by an ulp)
        # instead of centring a copy of it: at 1M contacts that copy, 244 MB, made the peak
        km = KMeans(n_clusters=k, n_init=10, random_state=seed, copy_x=False).fit(x)
        candidates.append(
            Candidate(
                "kmeans", k, silhouette(km.labels_), float(km.inertia_), km.labels_, km.cluster_centers_
            )
        )
        if tree is not None:
            labels = fcluster(tree, k, criterion="maxclust") - 1
            candidates.append(Candidate("agglomerative", k, silhouette(labels), _inertia(x, labels), labels))
    scored = [c for c in candidates if c.silhouette is not None]
    if not scored:
        raise ValueError("no clustering of these authors has two or more clusters; too little text")
    best = max(scored, key=lambda c: (round(c.silhouette, 6), -c.k, c.algorithm == "kmeans"))
    return best, candidates


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Cluster ids 1..k by decreasing size (ties by first member), so ids read the same each run."""
    sizes = Counter(labels.tolist())
    first = {}
    for i, label in enumerate(labels.tolist()):
        first.setdefault(label, i)
    order = sorted(sizes, key=lambda lab: (-sizes[lab], first[lab]))
    mapping = {lab: i + 1 for i, lab in enumerate(order)}
    return np.array([mapping[lab] for lab in labels.tolist()])


def top_terms(
    tfidf: Any, labels: np.ndarray, terms: np.ndarray, forms: dict[str, Counter[str]], n: int
) -> dict[int, list[str]]:
    """Per cluster, the n words whose mean TF-IDF in the cluster most exceeds their mean overall,
    each shown in its most frequent written form."""
    overall = np.asarray(tfidf.mean(axis=0)).ravel()
    out: dict[int, list[str]] = {}
    for label in sorted(set(labels.tolist())):
        mean = np.asarray(tfidf[labels == label].mean(axis=0)).ravel()
        lift = mean - overall
        words: list[str] = []
        for j in np.argsort(-lift, kind="stable"):
            if lift[j] <= 0 or len(words) >= n:
                break
            written = forms.get(terms[j])
            word = sorted(written.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] if written else str(terms[j])
            if word not in words:
                words.append(word)
        out[int(label)] = words
    return out


# --------------------------------------------------------------------------- writing


@functools.cache
def _vector_format(dims: int, is_pgvector: bool) -> str:
    body = ",".join(["%.6g"] * dims)
    return f"[{body}]" if is_pgvector else f"{{{body}}}"


def _vector_literal(values: np.ndarray, is_pgvector: bool) -> str:
    # one %-format of the whole row, where formatting each value apart was 11 s of the model at
    # 1M contacts (476k vectors of 64; README, Benchmark); same text: 6 significant digits each
    return _vector_format(len(values), is_pgvector) % tuple(values.tolist())


def _embedding_type(conn: psycopg.Connection) -> str:
    row = conn.execute(
        "select format_type(a.atttypid, a.atttypmod) from pg_attribute a "
        "where a.attrelid = 'ml.author_embeddings'::regclass and a.attname = 'embedding'"
    ).fetchone()
    return row[0]


def _copy(cur: psycopg.Cursor, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with cur.copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
        for row in rows:
            copy.write_row(row)


def run(conn: psycopg.Connection, *, seed: int = 0, settings: Settings | None = None) -> dict[str, Any]:
    """Read the comments, embed and cluster their authors, replace the ``ml`` tables' rows.

    Returns a summary (run id, counts, chosen k and algorithm, silhouette, cluster sizes);
    it holds no text and no names. Its numeric libraries use at most ``audience.ml.threads()``
    threads.
    """
    with limited_threads():
        return _run(conn, seed, settings)


def _run(conn: psycopg.Connection, seed: int, settings: Settings | None) -> dict[str, Any]:
    settings = settings or Settings()
    settings.check()
    started = datetime.now(UTC)
    t0 = time.monotonic()
    run_id = f"{started:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"
    conn.execute(DDL)
    conn.commit()

    authors, comments, skipped, forms = read_authors(_stream_comments(conn))
    n_comments = comments.comments
    conn.commit()  # closes the server-side cursor's transaction
    log.info(
        "psychographic: %d comments by %d authors read and lemmatised in %.1fs (%d without author)",
        n_comments,
        len(authors),
        time.monotonic() - t0,
        skipped["no_author"],
    )

    eligible = [i for i, a in enumerate(authors) if a.has_text and len(a.lemmas) >= settings.min_terms]
    labels_by_author: dict[int, int] = {}
    similarity: dict[int, float] = {}
    candidates: list[Candidate] = []
    best: Candidate | None = None
    names: dict[int, list[str]] = {}
    method = "none"
    vectors = np.zeros((len(authors), settings.dims))
    if eligible:
        t1 = time.monotonic()
        emb = embed(authors, comments, dims=settings.dims, min_df=settings.min_df, seed=seed)
        del comments
        method = emb.method
        vectors = emb.vectors
        known = [i for i in eligible if np.any(emb.vectors[i])]
        if len(known) > settings.k_min:
            x = emb.vectors[known]
            best, candidates = select_k(
                x,
                settings.k_min,
                settings.k_max,
                seed=seed,
                max_agglomerative=settings.max_agglomerative,
                silhouette_sample=settings.silhouette_sample,
                k_selection_sample=settings.k_selection_sample,
            )
            log.info(
                "psychographic: k, silhouette, inertia (kmeans): %s",
                "; ".join(
                    f"{c.k} {c.silhouette if c.silhouette is None else round(c.silhouette, 3)} {c.inertia:.0f}"
                    for c in candidates
                    if c.algorithm == "kmeans"
                ),
            )
            labels = _renumber(best.labels)
            # each cluster's centroid once (not once per member: that was quadratic in the authors)
            centroids = {int(label): x[labels == label].mean(axis=0) for label in np.unique(labels)}
            norms = {label: float(np.linalg.norm(c)) or 1.0 for label, c in centroids.items()}
            for row, (i, label) in enumerate(zip(known, labels.tolist(), strict=True)):
                labels_by_author[i] = int(label)
                similarity[i] = float(x[row] @ centroids[label] / norms[label])
            names = top_terms(emb.tfidf[known], labels, emb.terms, forms, settings.top_terms)
        log.info(
            "psychographic: %d of %d authors embedded (%s) and clustered in %.1fs: %s k=%s silhouette=%s",
            len(labels_by_author),
            len(authors),
            method,
            time.monotonic() - t1,
            best.algorithm if best else None,
            best.k if best else None,
            f"{best.silhouette:.3f}" if best else None,
        )

    sizes = Counter(labels_by_author.values())
    is_pgvector = _embedding_type(conn).startswith("vector")
    with conn.transaction(), conn.cursor() as cur:
        for table in (
            "text_authors",
            "author_embeddings",
            "author_clusters",
            "interest_clusters",
            "cluster_selection",
        ):
            cur.execute(f"delete from ml.{table}")
        _copy(
            cur,
            "ml.text_authors",
            (
                "run_id",
                "platform",
                "author_id",
                "language",
                "comment_count",
                "content_term_count",
                "last_comment_at",
                "has_text",
            ),
            (
                (
                    run_id,
                    a.platform,
                    a.author_id,
                    a.language,
                    a.comment_count,
                    len(a.lemmas),
                    a.last_comment_at,
                    a.has_text,
                )
                for a in authors
            ),
        )
        _copy(
            cur,
            "ml.author_embeddings",
            ("run_id", "platform", "author_id", "embedding"),
            (
                (run_id, authors[i].platform, authors[i].author_id, _vector_literal(vectors[i], is_pgvector))
                for i in sorted(labels_by_author)
            ),
        )
        _copy(
            cur,
            "ml.author_clusters",
            ("run_id", "platform", "author_id", "cluster_id", "similarity"),
            (
                (
                    run_id,
                    a.platform,
                    a.author_id,
                    labels_by_author.get(i),
                    None if i not in similarity else round(similarity[i], 4),
                )
                for i, a in enumerate(authors)
            ),
        )
        _copy(
            cur,
            "ml.interest_clusters",
            ("run_id", "cluster_id", "cluster_name", "top_terms", "size"),
            (
                (run_id, cid, " / ".join(words[:3]) or f"cluster {cid}", words, sizes[cid])
                for cid, words in sorted(names.items())
            ),
        )
        _copy(
            cur,
            "ml.cluster_selection",
            ("run_id", "algorithm", "k", "silhouette", "inertia", "is_chosen"),
            ((run_id, c.algorithm, c.k, c.silhouette, c.inertia, c is best) for c in candidates),
        )
        cur.execute(
            "insert into ml.psychographic_runs values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                run_id,
                started,
                datetime.now(UTC),
                len(authors),
                len(labels_by_author),
                best.algorithm if best else None,
                best.k if best else None,
                best.silhouette if best else None,
                "vector" if is_pgvector else "real[]",
                seed,
            ),
        )
    summary = {
        "run_id": run_id,
        "comments": n_comments,
        "authors": len(authors),
        "authors_with_text": sum(a.has_text for a in authors),
        "clustered_authors": len(labels_by_author),
        "embedding": method,
        "algorithm": best.algorithm if best else None,
        "k": best.k if best else None,
        "silhouette": None if best is None else round(best.silhouette, 4),
        "clusters": [{"cluster_id": cid, "size": sizes[cid]} for cid in sorted(sizes)],
        "seconds": round(time.monotonic() - t0, 1),
    }
    if best is None:
        log.warning("psychographic: too little text to cluster (%d eligible authors)", len(eligible))
    log.info("psychographic: run %s written", run_id)
    return summary
