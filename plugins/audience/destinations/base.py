"""What every destination (Facebook, LinkedIn, ...) shares: the protocol, errors, results, batching.

The sync engine (:mod:`audience.destinations.sync`) only talks to the
:class:`Destination` protocol, so a new platform is one new module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

T = TypeVar("T")


class DestinationError(RuntimeError):
    """A platform refused a call, or answered something we cannot trust.

    Carries the platform's error code and message (never the data sent).
    ``retryable`` says whether the same call may succeed later (rate limit,
    transient failure): when it reaches the caller, the retries are spent and
    a later task retry may still succeed.
    """

    def __init__(
        self,
        message: str,
        *,
        destination: str,
        code: int | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.destination = destination
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.retryable = retryable

    def __str__(self) -> str:
        details = [f"code {self.code}" if self.code is not None else ""]
        if self.subcode is not None:
            details.append(f"subcode {self.subcode}")
        if self.http_status is not None:
            details.append(f"HTTP {self.http_status}")
        extra = ", ".join(d for d in details if d)
        return f"{self.destination}: {self.message}" + (f" ({extra})" if extra else "")


@dataclass
class UploadResult:
    """What the platform acknowledged for one or more member uploads."""

    sent: int = 0
    received: int = 0
    invalid: int = 0
    requests: int = 0
    invalid_samples: dict[str, str] = field(default_factory=dict)

    def merge(self, other: UploadResult, *, max_samples: int = 50) -> UploadResult:
        self.sent += other.sent
        self.received += other.received
        self.invalid += other.invalid
        self.requests += other.requests
        for key, reason in other.invalid_samples.items():
            if len(self.invalid_samples) >= max_samples:
                break
            self.invalid_samples.setdefault(key, reason)
        return self


class Destination(Protocol):
    """An ad platform's audience API, as the sync engine sees it."""

    name: str
    min_audience_size: int
    schema: tuple[str, ...]
    """Keys of the member rows sent, in order."""
    member_columns: tuple[str, ...]
    """Columns of ``marts.audience_members`` that give ``schema``'s values, same order."""
    identity_columns: tuple[str, ...]
    """Columns whose first non-empty value identifies a member on the platform."""

    @property
    def requests(self) -> int:
        """HTTP calls made so far (retries included)."""
        ...

    def find_or_create_audience(self, name: str, description: str) -> str: ...

    def batches(self, items: Iterable[T], values: Callable[[T], Sequence[str]]) -> Iterator[list[T]]: ...

    def add(self, audience_id: str, schema: Sequence[str], rows: Sequence[Sequence[str]]) -> UploadResult: ...

    def remove(
        self, audience_id: str, schema: Sequence[str], rows: Sequence[Sequence[str]]
    ) -> UploadResult: ...


def chunk_by_size(
    items: Iterable[T],
    *,
    size: Callable[[T], int],
    max_items: int,
    max_bytes: int,
    overhead: int = 0,
) -> Iterator[list[T]]:
    """Group ``items`` (lazily) into lists of at most ``max_items`` and ``max_bytes`` (plus overhead).

    An item larger than ``max_bytes`` on its own still goes out, alone: the
    platform, not this function, decides whether it is too large.
    """
    if max_items < 1:
        raise ValueError(f"max_items must be at least 1, got {max_items}")
    batch: list[T] = []
    used = overhead
    for item in items:
        item_size = size(item)
        if batch and (len(batch) >= max_items or used + item_size > max_bytes):
            yield batch
            batch, used = [], overhead
        batch.append(item)
        used += item_size
    if batch:
        yield batch
