"""JSON answers as the real APIs write them, including text Python cannot encode as UTF-8.

A record may hold a lone UTF-16 surrogate (JSON allows ``"\\ud83d"``; CRMs and Graph send them when a
client cut an emoji in half). Starlette's ``JSONResponse`` writes raw UTF-8 and fails on one; this
answer falls back to ASCII escapes for that body, which is what the real services send.

Bodies are encoded by msgspec (compact, raw UTF-8: JSON that reads back the same as Starlette's):
a HubSpot page of 100 contacts takes it 0.03 ms where Starlette's ``json.dumps`` took 0.31 ms, and
the benchmark's 1M-contact ingest serves about 13,000 such pages (README, Benchmark).
Starlette's encoder takes over for what msgspec refuses; unlike it, msgspec writes a float NaN as
null, where Starlette raises (no API answers NaN).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from fastapi.responses import JSONResponse as _StarletteJSONResponse


class JSONResponse(_StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return msgspec.json.encode(content)
        except (msgspec.EncodeError, TypeError, UnicodeEncodeError):
            pass
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()
