"""Comment cleaning, language detection and lemmatisation (French model, English rules)."""

from __future__ import annotations

import pytest

from audience.ml import text


@pytest.mark.parametrize(
    ("comment", "language"),
    [
        ("Enfin ! fabrication française, je cherchais ça depuis longtemps. Et pour lin ? 😍", "fr"),
        ("Finally some linen, been looking for this for ages. What about ethical fashion? 🙌", "en"),
        ("Question : randonnée dispo en boutique ? Fan de tente ici", "fr"),
        ("Is the backpack available in store? Big fan of headlamp", "en"),
        ("Merci !", "fr"),
        ("Thanks!", "en"),
        ("😍😍", None),
        ("", None),
        (None, None),
    ],
)
def test_detect_language(comment, language):
    assert text.detect_language(comment) == language


def test_clean_comment_drops_links_mentions_and_emojis():
    cleaned = text.clean_comment("Top 🔥🔥 @marie regarde https://ex.com/x?a=1 #randonnée\u00a0 !!")
    assert cleaned == "Top regarde randonnée !!"
    assert text.clean_comment("😍😍 👍") == ""


def test_english_lemma_singularises_plurals_only():
    assert [text.english_lemma(w) for w in ("cheeses", "berries", "glasses", "hiking", "boss", "us")] == [
        "cheese",
        "berry",
        "glass",
        "hiking",
        "boss",
        "us",
    ]


def test_lemmatise_french_and_english_content_words():
    out = list(
        text.lemmatise(
            [
                ("Enfin des chaussures de randonnée, je cherchais ça depuis longtemps", "fr"),
                ("Love the tents and the backpacks, thanks", "en"),
                ("Merci !", "fr"),
                ("sérum", None),  # no language: French letters → French
            ]
        )
    )
    assert len(out) == 4
    fr_lemmas = [lemma for lemma, _ in out[0]]
    assert "chaussure" in fr_lemmas  # plural → lemma
    assert not {"je", "de", "ça", "depuis"} & set(fr_lemmas)  # stop words gone
    assert ("chaussure", "chaussures") in out[0]  # the written form is kept beside the lemma
    assert [lemma for lemma, _ in out[1]] == ["tent", "backpack"]  # 'love', 'thanks': small talk
    assert out[2] == []
    assert [lemma for lemma, _ in out[3]] == ["sérum"]


def test_lemmatise_reuses_a_repeated_text_with_the_same_result(monkeypatch):
    texts = [("Super robe en coton bio", "fr"), ("Great wireless earbuds", "en")] * 3
    once = [list(text.lemmatise([t]))[0] for t in texts[:2]]
    calls = []
    pipeline = text.french_pipeline()
    real_pipe = pipeline.pipe

    def counting_pipe(docs, **kw):
        docs = list(docs)
        calls.append(len(docs))
        return real_pipe(docs, **kw)

    monkeypatch.setattr(pipeline, "pipe", counting_pipe)
    # a cache bound of 1: it starts again between batches, and the results do not change
    for bound, batch in ((100, 256), (1, 2)):
        calls.clear()
        monkeypatch.setattr(text, "LEMMA_CACHE_SIZE", bound)
        out = list(text.lemmatise(texts, batch_size=batch))
        assert out == once * 3
        assert sum(calls) == (1 if bound == 100 else 3)  # the French text went through spaCy once per batch


# one of each kind of character the cleaning treats apart: emoji and its joiners, a modifier symbol
# (^ and ` are ones in ASCII), private use, an unassigned code point, a lone surrogate, combining
# marks, ligatures, control characters, both apostrophes, French letters, URLs, mentions, hashtags
_CHARACTER_ZOO = [
    "Top 🔥🔥 @marie regarde https://ex.com/x?a=1 #randonnée\u00a0 !!",
    "👩\u200d👩\u200d👧 famille ❤\ufe0f l'été",
    "a^b`c ˆ¨",
    "\ue000 privé \U000f0000",
    "\u0378 \ud800 seuls",
    "ﬁn e\u0301te\u0301 côté",
    "\x00\x07\x1b tab\tnew\nline",
    "j’adore c'est top aujourd’hui",
    "l'",
    "’",
    "www.example.fr/shop merci",
    "THE BEST, vraiment très bien",
    "x" * 10_000,
    "",
]


def _clean_comment_one_character_at_a_time(comment: str) -> str:
    """clean_comment as first written: each character tested in Python (the reference)."""
    import re  # noqa: PLC0415
    import unicodedata  # noqa: PLC0415

    comment = unicodedata.normalize("NFC", comment)
    comment = re.sub(r"(?:https?://|www\.)\S+", " ", comment, flags=re.IGNORECASE)
    comment = re.sub(r"@\w+", " ", comment).replace("#", " ")
    comment = "".join(" " if text._is_symbol(ch) else ch for ch in comment)
    return re.sub(r"\s+", " ", comment).strip()


@pytest.mark.parametrize("comment", _CHARACTER_ZOO)
def test_clean_comment_translates_symbols_as_a_test_of_each_character_does(comment):
    assert text.clean_comment(comment) == _clean_comment_one_character_at_a_time(comment)
    # the table learns characters as they come: the second cleaning reads what the first stored
    assert text.clean_comment(comment) == _clean_comment_one_character_at_a_time(comment)


@pytest.mark.parametrize("comment", _CHARACTER_ZOO)
def test_a_cleaned_comment_is_not_cleaned_again_for_its_language(comment):
    cleaned = text.clean_comment(comment)
    assert text.clean_comment(cleaned) == cleaned  # why language_of_cleaned may skip the cleaning
    assert text.language_of_cleaned(cleaned) == text.detect_language(comment)


def test_language_of_cleaned_counts_each_cue():
    assert text.language_of_cleaned("j'adore") == "fr"  # a French cue before the apostrophe
    assert text.language_of_cleaned("aujourd’hui") is None  # neither part is a cue
    assert text.language_of_cleaned("the été") == "en"  # one English cue (1) beats French letters (0.5)
    assert text.language_of_cleaned("the été côté") == "fr"  # 'côté' is a cue (1) with letters (0.5)
    assert text.language_of_cleaned("") is None
