"""The sandbox's JSON answers: msgspec's encoding reads back as Starlette's would, and a lone
surrogate (half an emoji, which real APIs send) still gets through as an ASCII escape."""

from __future__ import annotations

import json

from starlette.responses import JSONResponse as StarletteJSONResponse

from sandbox.wire import JSONResponse


def test_answers_read_back_as_starlettes_would():
    content = {
        "results": [
            {"id": "1", "properties": {"firstname": "Zoé", "note": 'a "quoted"\nline\t\u2028'}},
            {"id": "2", "archived": False, "score": 0.1, "big": 10**18, "none": None, "empty": []},
        ],
        "paging": {"next": {"after": "100"}},
    }
    ours = JSONResponse(content).body
    theirs = StarletteJSONResponse(content).body
    assert json.loads(ours) == json.loads(theirs) == content
    assert "Zoé".encode() in ours  # raw UTF-8, as Starlette writes it


def test_a_lone_surrogate_is_written_as_an_escape():
    content = {"message": "cut emoji \ud83d here"}
    body = JSONResponse(content).body
    assert b"\\ud83d" in body
    assert json.loads(body) == content
