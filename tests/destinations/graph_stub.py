"""A scripted stand-in for the Graph API (the answers each test needs), used by test_facebook.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    request_line_bytes: int
    body_bytes: int


@dataclass
class Reply:
    status: int = 200
    body: str | dict = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class GraphStub:
    """A tiny HTTP server answering what each test scripts; it records every request."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    script: list[Reply | Callable[[Seen], Reply]] = field(default_factory=list)
    default: Callable[[Seen], Reply] | None = None

    def answer(self, seen: Seen) -> Reply:
        self.seen.append(seen)
        if self.script:
            step = self.script.pop(0)
            return step(seen) if callable(step) else step
        if self.default is not None:
            return self.default(seen)
        return Reply(500, {"error": {"message": "stub has no reply scripted", "code": 1}})


def users_ok(seen: Seen) -> Reply:
    """A Graph-like answer to a /users call: every row received."""
    payload = json.loads(seen.form["payload"][0])
    return Reply(
        200,
        {
            "audience_id": seen.path.split("/")[2],
            "session_id": "1",
            "num_received": len(payload["data"]),
            "num_invalid_entries": 0,
            "invalid_entry_samples": {},
        },
    )
