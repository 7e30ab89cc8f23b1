"""JSON answers as the real APIs write them, including text Python cannot encode as UTF-8.

A record may hold a lone UTF-16 surrogate (JSON allows ``"\\ud83d"``; CRMs and Graph send them when a
client cut an emoji in half). Starlette's ``JSONResponse`` writes raw UTF-8 and fails on one; this
answer falls back to ASCII escapes for that body, which is what the real services send.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse as _StarletteJSONResponse


class JSONResponse(_StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()
