"""Load the audience catalogue (``audiences/*.yml``) and check it, into typed objects.

One YAML file per audience (see ``audiences/README.md``). Everything a marketer writes is
checked here, before any SQL exists: attribute names against the registry
(:mod:`audience.audiences.attributes`), operators against the attribute's type, values against
the type (and its bounds or allowed values), references to other audiences (they exist, no
cycles), destinations and lookalike settings (what Facebook accepts). Every problem is reported
at once, each naming the file, the audience and the path of the rule::

    audiences/hot_prospects.yml: audience 'hot_prospects', rules.all[1].attribute: unknown
    attribute 'engagment_tier' (did you mean 'engagement_tier'?)
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from audience.audiences import attributes as reg

KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,49}")  # aud_<key>__dbt_tmp fits in 63 characters
POINT_KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,49}")
COUNTRY_PATTERN = re.compile(r"[A-Z]{2}")
FILE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
# dbt renders Jinja in models and in yml descriptions: a value may never open a Jinja tag there
JINJA_OPENERS = ("{{", "{%", "{#")
MAX_TEXT_LENGTH = 500
MAX_WITHIN_DAYS = 3650

TOP_LEVEL_FIELDS = (
    "key",
    "name",
    "description",
    "owner",
    "rules",
    "include",
    "exclude",
    "destinations",
    "lookalike",
    "min_size",
)
LOOKALIKE_FIELDS = ("enabled", "country", "countries", "ratio", "starting_ratio")
EVENT_FIELDS = ("event", "within_days", "min_count", "page_path_starts_with", "min_value_eur")
DISTANCE_FIELDS = ("near", "within_km")
BRANCHES = ("all", "any", "not")
LEAF_KINDS = ("attribute", "event", "near", "audience")


# -- the typed catalogue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AllOf:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class DaysAgo:
    """``{days_ago: N}``: the date N days before as_of_date."""

    days: int


@dataclass(frozen=True)
class AttributeCondition:
    attribute: reg.Attribute
    operator: str
    value: Any  # checked: int | float | str | bool | dt.date | DaysAgo, or a tuple of those


@dataclass(frozen=True)
class EventCondition:
    events: tuple[str, ...]  # empty: any event
    within_days: int
    min_count: int = 1
    page_path_starts_with: str | None = None
    min_value_eur: float | None = None


@dataclass(frozen=True)
class DistanceCondition:
    point_key: str
    within_km: float


@dataclass(frozen=True)
class AudienceCondition:
    """Member of another audience (before the consent filter)."""

    key: str


Node = AllOf | AnyOf | Not | AttributeCondition | EventCondition | DistanceCondition | AudienceCondition


@dataclass(frozen=True)
class Lookalike:
    enabled: bool
    countries: tuple[str, ...]
    ratio: float
    starting_ratio: float | None = None


@dataclass(frozen=True)
class Audience:
    key: str
    name: str
    description: str
    owner: str
    source_file: str  # as shown in messages, e.g. 'audiences/hot_prospects.yml'
    rules: Node | None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()
    lookalike: Lookalike | None = None
    min_size: int | None = None

    @property
    def model_name(self) -> str:
        return model_name(self.key)

    def depends_on(self) -> tuple[str, ...]:
        """Keys of the audiences this one reads (include, exclude, and audience conditions), sorted."""
        keys = set(self.include) | set(self.exclude)
        if self.rules is not None:
            keys |= {n.key for n in walk(self.rules) if isinstance(n, AudienceCondition)}
        return tuple(sorted(keys))

    def effective_min_size(self) -> int | None:
        """min_size, raised to what the strictest destination needs; None: the dbt var decides."""
        floor = max((reg.DESTINATION_MIN_SIZE[d] for d in self.destinations if d != "facebook"), default=None)
        if self.min_size is None:
            return floor
        return max(self.min_size, floor or 0)


@dataclass(frozen=True)
class Catalogue:
    audiences: tuple[Audience, ...]  # in dependency order (an audience after those it reads), then by key

    def by_key(self) -> dict[str, Audience]:
        return {a.key: a for a in self.audiences}


def model_name(key: str) -> str:
    return f"aud_{key}"


def walk(node: Node) -> Iterable[Node]:
    yield node
    if isinstance(node, AllOf | AnyOf):
        for child in node.children:
            yield from walk(child)
    elif isinstance(node, Not):
        yield from walk(node.child)


# -- errors ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    file: str
    audience: str | None
    path: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.audience:
            where += f": audience '{self.audience}'"
        if self.path:
            where += f", {self.path}" if self.audience else f": {self.path}"
        return f"{where}: {self.message}"


class CatalogueError(ValueError):
    """The catalogue is invalid; ``problems`` lists every problem found, each with its file and rule path."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _Invalid(Exception):
    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message


def _suggest(word: Any, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dt.date):
        return f"a date ({value.isoformat()})"
    return type(value).__name__


# -- YAML ------------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe loader that refuses a key written twice in one mapping (PyYAML silently keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' is written twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# -- checking values -------------------------------------------------------------------------------


def _text(value: Any, path: str, what: str, *, max_length: int = MAX_TEXT_LENGTH) -> str:
    if not isinstance(value, str):
        hint = " (put it in quotes)" if isinstance(value, bool | int | float | dt.date) else ""
        raise _Invalid(path, f"{what} must be text, got {_kind(value)}{hint}")
    if not value.strip():
        raise _Invalid(path, f"{what} is empty")
    if len(value) > max_length:
        raise _Invalid(path, f"{what} is longer than {max_length} characters")
    if any(opener in value for opener in JINJA_OPENERS):
        raise _Invalid(path, f"{what} may not contain '{{{{', '{{%' or '{{#' (dbt reads them as Jinja)")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise _Invalid(path, f"{what} holds a control character")
    return value


def _number(
    value: Any,
    path: str,
    what: str,
    *,
    integer: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(
            path, f"{what} must be a {'whole number' if integer else 'number'}, got {_kind(value)}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise _Invalid(path, f"{what} must be a finite number")
    if integer and not isinstance(value, int):
        if not float(value).is_integer():
            raise _Invalid(path, f"{what} must be a whole number, got {value}")
        value = int(value)
    if minimum is not None and value < minimum:
        raise _Invalid(path, f"{what} must be at least {_fmt(minimum)}, got {value}")
    if maximum is not None and value > maximum:
        raise _Invalid(path, f"{what} must be at most {_fmt(maximum)}, got {value}")
    return value


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _bool(value: Any, path: str, what: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(path, f"{what} must be true or false, got {_kind(value)}")
    return value


def _mapping(value: Any, path: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(path, f"{what} must be a mapping (key: value lines), got {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise _Invalid(path, f"{what} has a key that is not text: {key!r}")
    return value


def _unknown_fields(value: dict[str, Any], allowed: tuple[str, ...], path: str, what: str) -> None:
    for key in value:
        if key not in allowed:
            raise _Invalid(
                _join(path, key),
                f"unknown field '{key}' in {what}{_suggest(key, allowed)}; allowed: {', '.join(allowed)}",
            )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _list(value: Any, path: str, what: str, *, allow_empty: bool = True) -> list[Any]:
    if not isinstance(value, list):
        raise _Invalid(path, f"{what} must be a list, got {_kind(value)}")
    if not value and not allow_empty:
        raise _Invalid(path, f"{what} is an empty list")
    return value


def _date(value: Any, path: str, what: str) -> dt.date | DaysAgo:
    if isinstance(value, dict):
        _unknown_fields(value, ("days_ago",), path, what)
        if "days_ago" not in value:
            raise _Invalid(path, f"{what}: write a date (2026-10-01) or {{days_ago: N}}")
        days = _number(
            value["days_ago"],
            _join(path, "days_ago"),
            "days_ago",
            integer=True,
            minimum=0,
            maximum=MAX_WITHIN_DAYS,
        )
        return DaysAgo(int(days))
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _Invalid(path, f"{what} must be a date written YYYY-MM-DD or {{days_ago: N}}, got {_kind(value)}")


def _attribute_value(attr: reg.Attribute, value: Any, path: str) -> Any:
    """One value compared with ``attr``, checked against its type."""
    what = f"a value of {attr.type} attribute '{attr.name}'"
    if attr.type == reg.NUMBER:
        return _number(value, path, what, integer=attr.integer, minimum=attr.minimum, maximum=attr.maximum)
    if attr.type == reg.TIMESTAMP:
        return _date(value, path, what)
    if attr.type in (reg.TEXT, reg.ENUM):
        text = _text(value, path, what, max_length=200)
        if attr.type == reg.ENUM and text not in attr.values:
            raise _Invalid(
                path,
                f"'{text}' is not a value of '{attr.name}'{_suggest(text, attr.values)}; "
                f"allowed: {', '.join(attr.values)}",
            )
        if attr.pattern and not re.fullmatch(attr.pattern, text):
            raise _Invalid(path, f"'{text}' is not shaped like a value of '{attr.name}' ({attr.description})")
        return text
    raise _Invalid(path, f"'{attr.name}' is {attr.type}: use is_true or is_null")


# -- rules -----------------------------------------------------------------------------------------


@dataclass
class _Context:
    audience_keys: frozenset[str]
    point_keys: frozenset[str] | None  # None: any well-formed key is accepted
    references: list[tuple[str, str]] = field(default_factory=list)  # (path, key) of audience conditions


def _node(value: Any, path: str, ctx: _Context) -> Node:
    node = _mapping(value, path, "a rule")
    if not node:
        raise _Invalid(
            path, "empty rule; write all:, any:, not:, or a condition (attribute:, event:, near:, audience:)"
        )
    branches = [k for k in node if k in BRANCHES]
    if branches:
        if len(node) > 1:
            others = ", ".join(k for k in node if k != branches[0])
            raise _Invalid(
                path,
                f"'{branches[0]}' must be alone in its rule (found also: {others}); "
                f"nest the conditions under it",
            )
        kind = branches[0]
        inner_path = _join(path, kind)
        if kind == "not":
            if isinstance(node["not"], list):
                raise _Invalid(inner_path, "'not' takes one rule, not a list (wrap several in all: or any:)")
            return Not(_node(node["not"], inner_path, ctx))
        children = _list(node[kind], inner_path, f"'{kind}'", allow_empty=False)
        parsed = tuple(_node(child, f"{inner_path}[{i}]", ctx) for i, child in enumerate(children))
        return AllOf(parsed) if kind == "all" else AnyOf(parsed)
    kinds = [k for k in node if k in LEAF_KINDS]
    if len(kinds) != 1:
        if not kinds:
            first = next(iter(node))
            raise _Invalid(
                _join(path, first),
                f"unknown rule '{first}'"
                f"{_suggest(first, BRANCHES + LEAF_KINDS)}; a rule is all:, any:, not:, or a "
                f"condition on attribute:, event:, near: or audience:",
            )
        raise _Invalid(
            path, f"one condition per rule, found {', '.join(kinds)} (combine them with all: or any:)"
        )
    if kinds[0] == "attribute":
        return _attribute_condition(node, path)
    if kinds[0] == "event":
        return _event_condition(node, path)
    if kinds[0] == "near":
        return _distance_condition(node, path, ctx)
    _unknown_fields(node, ("audience",), path, "an audience condition")
    key = _text(node["audience"], _join(path, "audience"), "audience")
    ctx.references.append((_join(path, "audience"), key))
    return AudienceCondition(key)


def _attribute_condition(node: dict[str, Any], path: str) -> AttributeCondition:
    name_path = _join(path, "attribute")
    name = node["attribute"]
    if not isinstance(name, str) or name not in reg.ATTRIBUTES:
        raise _Invalid(name_path, f"unknown attribute '{name}'{_suggest(name, reg.ATTRIBUTES)}")
    attr = reg.ATTRIBUTES[name]
    operators = [k for k in node if k != "attribute"]
    if len(operators) != 1:
        found = f"found {', '.join(operators)}" if operators else "found none"
        raise _Invalid(
            path,
            f"a condition on '{name}' takes exactly one operator ({found}); "
            f"'{name}' accepts: {', '.join(attr.operators)}",
        )
    op = operators[0]
    op_path = _join(path, op)
    if op not in reg.ALL_OPERATORS:
        raise _Invalid(
            op_path,
            f"unknown operator '{op}'{_suggest(op, attr.operators)}; "
            f"'{name}' accepts: {', '.join(attr.operators)}",
        )
    if op not in attr.operators:
        raise _Invalid(
            op_path,
            f"operator '{op}' does not apply to {attr.type} attribute '{name}'; "
            f"it accepts: {', '.join(attr.operators)}",
        )
    value = node[op]
    if op in ("is_null", "is_true"):
        return AttributeCondition(attr, op, _bool(value, op_path, op))
    if op in ("in", "not_in"):
        items = _list(value, op_path, f"'{op}'", allow_empty=False)
        checked = tuple(_attribute_value(attr, item, f"{op_path}[{i}]") for i, item in enumerate(items))
        return AttributeCondition(attr, op, tuple(dict.fromkeys(checked)))
    if op == "between":
        pair = _list(value, op_path, "'between'")
        if len(pair) != 2:
            raise _Invalid(op_path, f"'between' takes two values [low, high], got {len(pair)}")
        low = _attribute_value(attr, pair[0], f"{op_path}[0]")
        high = _attribute_value(attr, pair[1], f"{op_path}[1]")
        if not isinstance(low, DaysAgo) and not isinstance(high, DaysAgo) and low > high:
            raise _Invalid(op_path, f"'between' needs low <= high, got [{pair[0]}, {pair[1]}]")
        return AttributeCondition(attr, op, (low, high))
    if op == "starts_with":
        return AttributeCondition(attr, op, _text(value, op_path, "starts_with", max_length=200))
    return AttributeCondition(attr, op, _attribute_value(attr, value, op_path))


def _event_condition(node: dict[str, Any], path: str) -> EventCondition:
    _unknown_fields(node, EVENT_FIELDS, path, "an event condition")
    event_path = _join(path, "event")
    names = node["event"] if isinstance(node["event"], list) else [node["event"]]
    if not names:
        raise _Invalid(event_path, "event is an empty list")
    events: list[str] = []
    for name in names:
        if name == reg.ANY_EVENT:
            if len(names) > 1:
                raise _Invalid(event_path, f"'{reg.ANY_EVENT}' cannot be listed with other events")
            continue
        if not isinstance(name, str) or name not in reg.EVENT_NAMES:
            raise _Invalid(
                event_path,
                f"unknown event '{name}'{_suggest(name, reg.EVENT_NAMES)}; "
                f"events: {', '.join(reg.EVENT_NAMES)} or {reg.ANY_EVENT}",
            )
        events.append(name)
    if "within_days" not in node:
        raise _Invalid(path, "an event condition needs within_days (how many days back to look)")
    within = _number(
        node["within_days"],
        _join(path, "within_days"),
        "within_days",
        integer=True,
        minimum=1,
        maximum=MAX_WITHIN_DAYS,
    )
    min_count = _number(
        node.get("min_count", 1), _join(path, "min_count"), "min_count", integer=True, minimum=1
    )
    prefix = None
    if "page_path_starts_with" in node:
        prefix = _text(
            node["page_path_starts_with"],
            _join(path, "page_path_starts_with"),
            "page_path_starts_with",
            max_length=200,
        )
        if not prefix.startswith("/"):
            raise _Invalid(
                _join(path, "page_path_starts_with"), f"a page path starts with '/', got '{prefix}'"
            )
    min_value = None
    if "min_value_eur" in node:
        min_value = _number(node["min_value_eur"], _join(path, "min_value_eur"), "min_value_eur", minimum=0)
    return EventCondition(tuple(sorted(set(events))), int(within), int(min_count), prefix, min_value)


def _distance_condition(node: dict[str, Any], path: str, ctx: _Context) -> DistanceCondition:
    _unknown_fields(node, DISTANCE_FIELDS, path, "a distance condition")
    near_path = _join(path, "near")
    point = node["near"]
    if not isinstance(point, str) or not POINT_KEY_PATTERN.fullmatch(point):
        raise _Invalid(
            near_path, f"near takes a point key (lower-case letters, digits, _), got {_kind(point)}"
        )
    if ctx.point_keys is not None and point not in ctx.point_keys:
        raise _Invalid(
            near_path,
            f"unknown point '{point}'{_suggest(point, ctx.point_keys)}; "
            f"points: {', '.join(sorted(ctx.point_keys))}",
        )
    if "within_km" not in node:
        raise _Invalid(path, "a distance condition needs within_km")
    km = _number(node["within_km"], _join(path, "within_km"), "within_km", minimum=0, maximum=20_000)
    if km == 0:
        raise _Invalid(_join(path, "within_km"), "within_km must be more than 0")
    return DistanceCondition(point, km)


# -- one audience ----------------------------------------------------------------------------------


def _keys(value: Any, path: str, what: str) -> tuple[str, ...]:
    items = _list(value, path, what)
    keys = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise _Invalid(f"{path}[{i}]", f"{what} lists audience keys (text), got {_kind(item)}")
        keys.append(item)
    return tuple(dict.fromkeys(keys))


def _lookalike(value: Any, path: str, destinations: tuple[str, ...]) -> Lookalike | None:
    spec = _mapping(value, path, "lookalike")
    _unknown_fields(spec, LOOKALIKE_FIELDS, path, "lookalike")
    enabled = _bool(spec.get("enabled", True), _join(path, "enabled"), "enabled")
    if "country" in spec and "countries" in spec:
        raise _Invalid(path, "write either country or countries, not both")
    raw = spec.get("countries", [spec["country"]] if "country" in spec else None)
    if raw is None:
        raise _Invalid(path, "lookalike needs country (ISO 3166-1 alpha-2, e.g. FR) or countries")
    field_name = "countries" if "countries" in spec else "country"
    items = _list(raw, _join(path, field_name), field_name, allow_empty=False)
    countries = []
    for i, item in enumerate(items):
        item_path = _join(path, field_name) + (f"[{i}]" if field_name == "countries" else "")
        if not isinstance(item, str) or not COUNTRY_PATTERN.fullmatch(item):
            hint = " (put it in quotes: YAML reads NO as false)" if isinstance(item, bool) else ""
            raise _Invalid(
                item_path,
                f"a country is an upper-case ISO 3166-1 alpha-2 code (FR), "
                f"got {_kind(item) if not isinstance(item, str) else repr(item)}{hint}",
            )
        countries.append(item)
    if "ratio" not in spec:
        raise _Invalid(
            path,
            f"lookalike needs ratio ({reg.LOOKALIKE_RATIO_MIN}-{reg.LOOKALIKE_RATIO_MAX}: the "
            f"share of the country's population, 0.01 = the 1% most similar)",
        )
    ratio = _number(
        spec["ratio"],
        _join(path, "ratio"),
        "ratio",
        minimum=reg.LOOKALIKE_RATIO_MIN,
        maximum=reg.LOOKALIKE_RATIO_MAX,
    )
    starting = None
    if "starting_ratio" in spec:
        starting = _number(
            spec["starting_ratio"],
            _join(path, "starting_ratio"),
            "starting_ratio",
            minimum=0,
            maximum=reg.LOOKALIKE_RATIO_MAX,
        )
        if starting >= ratio:
            raise _Invalid(_join(path, "starting_ratio"), f"starting_ratio must be below ratio ({ratio})")
    if enabled and "facebook" not in destinations:
        raise _Invalid(
            path,
            "lookalike audiences are built by Facebook: add facebook to destinations (or set enabled: false)",
        )
    return Lookalike(
        enabled, tuple(dict.fromkeys(countries)), float(ratio), None if starting is None else float(starting)
    )


def _audience(raw: Any, file: str, stem: str, ctx: _Context) -> tuple[Audience | None, list[Problem]]:
    key = stem
    try:
        spec = _mapping(raw, "", "an audience file")
        if "key" in spec:
            key = _text(spec["key"], "key", "key", max_length=60)
        if not KEY_PATTERN.fullmatch(key):
            raise _Invalid(
                "key" if "key" in spec else "",
                f"audience key '{key}' must be lower-case letters, digits and _, starting with a "
                f"letter, at most 50 characters"
                + ("" if "key" in spec else " (taken from the file name; rename the file or set key:)"),
            )
    except _Invalid as exc:
        return None, [Problem(file, None, exc.path or None, exc.message)]
    problems: list[Problem] = []

    def check(fn, *args):  # noqa: ANN001, ANN202 - collects one problem per field
        try:
            return fn(*args)
        except _Invalid as exc:
            problems.append(Problem(file, key, exc.path or None, exc.message))
            return None

    def fields() -> None:
        _unknown_fields(spec, TOP_LEVEL_FIELDS, "", "an audience")

    check(fields)
    texts = {}
    for name in ("name", "description", "owner"):
        if name not in spec:
            problems.append(Problem(file, key, name, f"missing {name}"))
        else:
            limit = MAX_TEXT_LENGTH if name == "description" else 200
            texts[name] = check(lambda v, n=name, m=limit: _text(v, n, n, max_length=m), spec[name])
    rules = check(_node, spec["rules"], "rules", ctx) if "rules" in spec else None
    include = check(_keys, spec.get("include", []), "include", "include") or ()
    exclude = check(_keys, spec.get("exclude", []), "exclude", "exclude") or ()
    if "rules" not in spec and not include:
        problems.append(Problem(file, key, None, "an audience needs rules or include (or both)"))
    destinations = ()
    if "destinations" not in spec:
        problems.append(
            Problem(
                file,
                key,
                "destinations",
                "missing destinations (e.g. [facebook]; [] to build the audience without syncing it)",
            )
        )
    else:
        destinations = check(_destinations, spec["destinations"]) or ()
    lookalike = (
        check(_lookalike, spec["lookalike"], "lookalike", destinations) if "lookalike" in spec else None
    )
    min_size = None
    if "min_size" in spec:
        min_size = check(
            lambda v: _number(v, "min_size", "min_size", integer=True, minimum=1, maximum=10_000_000),
            spec["min_size"],
        )
    if problems:
        return None, problems
    return Audience(
        key=key,
        name=texts["name"],
        description=texts["description"],
        owner=texts["owner"],
        source_file=file,
        rules=rules,
        include=include,
        exclude=exclude,
        destinations=destinations,
        lookalike=lookalike,
        min_size=None if min_size is None else int(min_size),
    ), []


def _destinations(value: Any) -> tuple[str, ...]:
    items = _list(value, "destinations", "destinations")
    for i, item in enumerate(items):
        if item not in reg.DESTINATIONS:
            raise _Invalid(
                f"destinations[{i}]",
                f"unknown destination '{item}'{_suggest(item, reg.DESTINATIONS)}; "
                f"destinations: {', '.join(reg.DESTINATIONS)}",
            )
    return tuple(dict.fromkeys(items))


# -- the whole catalogue ---------------------------------------------------------------------------


def catalogue_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".yml", ".yaml"))


def load(
    folder: Path, *, point_keys: Iterable[str] | None = None, display_root: Path | None = None
) -> Catalogue:
    """Read and check every ``*.yml`` audience file of ``folder``; raise :class:`CatalogueError` listing every
    problem. ``point_keys``: the known points for ``near:`` (None accepts any well-formed key)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CatalogueError(
            [Problem(str(folder), None, None, "the audience catalogue folder does not exist")]
        )
    root = display_root or folder.parent
    documents: list[tuple[str, str, Any]] = []
    problems: list[Problem] = []
    for path in catalogue_files(folder):
        shown = _shown(path, root)
        if not FILE_NAME_PATTERN.fullmatch(path.name):
            problems.append(
                Problem(
                    shown,
                    None,
                    None,
                    "file names may only hold letters, digits, '_', '-' and '.'; rename the file",
                )
            )
            continue
        try:
            documents.append(
                (shown, path.stem, yaml.load(path.read_text(encoding="utf-8"), _UniqueKeyLoader))
            )  # noqa: S506
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark is not None else None
            reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            problems.append(Problem(shown, None, where, f"not valid YAML: {reason}"))
        except UnicodeDecodeError:
            problems.append(Problem(shown, None, None, "not UTF-8 text"))
    declared = []
    for shown, stem, raw in documents:
        key = raw.get("key", stem) if isinstance(raw, dict) else stem
        declared.append((shown, key))
    ctx = _Context(
        frozenset(k for _, k in declared if isinstance(k, str)),
        None if point_keys is None else frozenset(point_keys),
    )
    audiences: list[Audience] = []
    seen: dict[str, str] = {}
    for shown, stem, raw in documents:
        ctx.references = []
        audience, found = _audience(raw, shown, stem, ctx)
        problems += found
        if audience is None:
            continue
        if audience.key in seen:
            problems.append(Problem(shown, audience.key, "key", f"key already used by {seen[audience.key]}"))
            continue
        seen[audience.key] = shown
        problems += _reference_problems(audience, ctx)
        audiences.append(audience)
    if not documents and not problems:
        problems.append(
            Problem(_shown(folder, root), None, None, "the catalogue holds no audience file (*.yml)")
        )
    if not problems:
        problems += _cycle_problems(audiences)
    if problems:
        raise CatalogueError(problems)
    return Catalogue(tuple(_dependency_order(audiences)))


def _shown(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _reference_problems(audience: Audience, ctx: _Context) -> list[Problem]:
    problems = []
    refs = [(f"include[{i}]", k) for i, k in enumerate(audience.include)]
    refs += [(f"exclude[{i}]", k) for i, k in enumerate(audience.exclude)]
    refs += ctx.references
    for path, key in refs:
        if key == audience.key:
            problems.append(
                Problem(audience.source_file, audience.key, path, "an audience cannot refer to itself")
            )
        elif key not in ctx.audience_keys:
            problems.append(
                Problem(
                    audience.source_file,
                    audience.key,
                    path,
                    f"unknown audience '{key}'{_suggest(key, ctx.audience_keys)}",
                )
            )
    both = sorted(set(audience.include) & set(audience.exclude))
    if both:
        problems.append(
            Problem(
                audience.source_file,
                audience.key,
                "exclude",
                f"{', '.join(both)} is both included and excluded",
            )
        )
    return problems


def _cycle_problems(audiences: list[Audience]) -> list[Problem]:
    deps = {a.key: a.depends_on() for a in audiences}
    by_key = {a.key: a for a in audiences}
    state: dict[str, int] = {}  # 1 visiting, 2 done
    problems: list[Problem] = []

    def visit(key: str, trail: list[str]) -> None:
        state[key] = 1
        for dep in deps[key]:
            if state.get(dep) == 1:
                cycle = trail[trail.index(dep) :] + [dep]
                first = by_key[dep]
                problems.append(
                    Problem(
                        first.source_file,
                        first.key,
                        None,
                        f"audiences refer to each other in a cycle: {' -> '.join(cycle)}",
                    )
                )
            elif state.get(dep) is None:
                visit(dep, [*trail, dep])
        state[key] = 2

    for key in sorted(deps):
        if key not in state:
            visit(key, [key])
    return problems


def _dependency_order(audiences: list[Audience]) -> list[Audience]:
    by_key = {a.key: a for a in audiences}
    ordered: list[Audience] = []
    placed: set[str] = set()

    def place(key: str) -> None:
        if key in placed:
            return
        for dep in by_key[key].depends_on():
            place(dep)
        placed.add(key)
        ordered.append(by_key[key])

    for key in sorted(by_key):
        place(key)
    return ordered
