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
