"""What audience rules may test: the attributes of ``marts.person_segments`` and the web event names.

Every attribute is one column of ``person_segments`` (same name), with a type that decides
which operators apply and which values are accepted. A rule naming anything else is rejected
when the catalogue is loaded, so no identifier ever reaches the generated SQL unless it is
listed here.

Types:

``number``    integers or decimals (``integer=True``: whole numbers only); optional bounds
``text``      free text values (optionally shaped by ``pattern``)
``enum``      text from a fixed list (``values``)
``boolean``   true / false
``timestamp`` compared with dates (``2026-10-01``) or ``{days_ago: N}`` relative to ``as_of_date``
"""

from __future__ import annotations

from dataclasses import dataclass

NUMBER = "number"
TEXT = "text"
ENUM = "enum"
BOOLEAN = "boolean"
TIMESTAMP = "timestamp"

OPERATORS_BY_TYPE: dict[str, tuple[str, ...]] = {
    NUMBER: ("equals", "not_equals", "in", "not_in", "gt", "gte", "lt", "lte", "between", "is_null"),
    TEXT: ("equals", "not_equals", "in", "not_in", "starts_with", "is_null"),
    ENUM: ("equals", "not_equals", "in", "not_in", "is_null"),
    BOOLEAN: ("is_true", "is_null"),
    TIMESTAMP: ("gt", "gte", "lt", "lte", "between", "is_null"),
}
ALL_OPERATORS: tuple[str, ...] = tuple(sorted({op for ops in OPERATORS_BY_TYPE.values() for op in ops}))


@dataclass(frozen=True)
class Attribute:
    """One column of ``person_segments`` that rules may test."""

    name: str
    type: str
    model: str  # the contract model the column comes from
    description: str
    values: tuple[str, ...] = ()  # enum only
    integer: bool = False  # number only: whole numbers
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None  # text only: values must match (re.fullmatch)

    @property
    def operators(self) -> tuple[str, ...]:
        return OPERATORS_BY_TYPE[self.type]


def _counts(prefix: str, what: str) -> list[Attribute]:
    return [
        Attribute(
            f"{prefix}_{days}d",
            NUMBER,
            "person_funnel",
            f"{what} in the {days} days up to as_of_date (0 when none).",
            integer=True,
            minimum=0,
        )
        for days in (7, 30, 90)
    ]


_PROBABILITY = {"minimum": 0, "maximum": 1}
_SCORE_1_5 = {"integer": True, "minimum": 1, "maximum": 5}

ATTRIBUTE_LIST: tuple[Attribute, ...] = (
    # -- who (persons, person_demographics)
    Attribute(
        "age",
        NUMBER,
        "person_demographics",
        "Age in whole years at as_of_date.",
        integer=True,
        minimum=0,
        maximum=130,
    ),
    Attribute(
        "age_band",
        ENUM,
        "person_demographics",
        "Age band.",
        values=("18-24", "25-34", "35-44", "45-54", "55-64", "65+", "under_18", "unknown"),
    ),
    Attribute("gender", ENUM, "person_demographics", "'f' or 'm' (null when unknown).", values=("f", "m")),
    Attribute(
        "language",
        TEXT,
        "person_demographics",
        "Preferred language, lower-case ISO 639-1 ('fr').",
        pattern=r"[a-z]{2}",
    ),
    Attribute(
        "country_code", TEXT, "persons", "ISO 3166-1 alpha-2 country, upper case ('FR').", pattern=r"[A-Z]{2}"
    ),
    Attribute(
        "source_count",
        NUMBER,
        "persons",
        "Number of source systems that know the person.",
        integer=True,
        minimum=0,
    ),
    Attribute("commune_code", TEXT, "person_demographics", "INSEE commune code ('69123')."),
    Attribute("commune_name", TEXT, "person_demographics", "Commune name."),
    Attribute("departement_code", TEXT, "person_demographics", "Département code ('69', '2A')."),
    Attribute("region_code", TEXT, "person_demographics", "INSEE region code ('11' = Île-de-France)."),
    Attribute("region_name", TEXT, "person_demographics", "Region name."),
    Attribute("nuts3_code", TEXT, "person_demographics", "Eurostat NUTS 3 code ('FR101')."),
    Attribute("nuts2_code", TEXT, "person_demographics", "Eurostat NUTS 2 code ('FR10')."),
    Attribute("urban_class", TEXT, "person_demographics", "Urban / rural class of the commune."),
    Attribute(
        "commune_income_decile",
        NUMBER,
        "person_demographics",
        "Decile (1-10) of the commune's median income.",
        integer=True,
        minimum=1,
        maximum=10,
    ),
    Attribute(
        "region_unemployment_rate",
        NUMBER,
        "person_demographics",
        "Unemployment rate of the NUTS 2 region, percent.",
        minimum=0,
        maximum=100,
    ),
    Attribute(
        "region_household_income_eur",
        NUMBER,
        "person_demographics",
        "Household income per inhabitant of the NUTS 2 region, EUR.",
        minimum=0,
    ),
    # -- what they do (person_funnel, person_engagement, person_rfm, person_next_action, person_propensity)
    *_counts("visits", "Visits"),
    *_counts("product_views", "Product views"),
    *_counts("add_to_carts", "Add-to-carts"),
    *_counts("checkouts", "Checkouts started"),
    *_counts("purchases", "Purchases"),
    *_counts("abandons", "Abandoned carts"),
    Attribute("last_event_at", TIMESTAMP, "person_funnel", "Time of the latest web event."),
    Attribute(
        "days_since_last_event",
        NUMBER,
        "person_funnel",
        "Days from the latest web event to as_of_date.",
        integer=True,
        minimum=0,
    ),
    Attribute("engagement_score", NUMBER, "person_engagement", "Engagement score."),
    Attribute("engagement_tier", TEXT, "person_engagement", "Engagement tier."),
    Attribute(
        "recency_days",
        NUMBER,
        "person_rfm",
        "Days since the latest order (null: never ordered).",
        integer=True,
        minimum=0,
    ),
    Attribute("frequency", NUMBER, "person_rfm", "Number of orders (0 when none).", integer=True, minimum=0),
    Attribute("monetary_eur", NUMBER, "person_rfm", "Total order amount, EUR (0 when none).", minimum=0),
    Attribute("r_score", NUMBER, "person_rfm", "Recency score (1-5).", **_SCORE_1_5),
    Attribute("f_score", NUMBER, "person_rfm", "Frequency score (1-5).", **_SCORE_1_5),
    Attribute("m_score", NUMBER, "person_rfm", "Monetary score (1-5).", **_SCORE_1_5),
    Attribute("rfm_segment", TEXT, "person_rfm", "RFM segment name."),
    Attribute("clv_eur", NUMBER, "person_rfm", "Estimated customer lifetime value, EUR.", minimum=0),
    Attribute("last_state", TEXT, "person_next_action", "Latest funnel state."),
    Attribute(
        "next_purchase_probability",
        NUMBER,
        "person_next_action",
        "Probability that the next step is a purchase (0-1).",
        **_PROBABILITY,
    ),
    Attribute(
        "purchase_propensity",
        NUMBER,
        "person_propensity",
        "Modelled purchase propensity (0-1).",
        **_PROBABILITY,
    ),
    Attribute(
        "propensity_decile",
        NUMBER,
        "person_propensity",
        "Decile of purchase_propensity (10 = highest).",
        integer=True,
        minimum=1,
        maximum=10,
    ),
    # -- what they care about (person_psychographics)
    Attribute("has_text", BOOLEAN, "person_psychographics", "Wrote at least one comment we could read."),
    Attribute(
        "interest_cluster_id",
        NUMBER,
        "person_psychographics",
        "Interest cluster number.",
        integer=True,
        minimum=0,
    ),
    Attribute("interest_cluster_name", TEXT, "person_psychographics", "Interest cluster name."),
    Attribute(
        "interest_label", TEXT, "person_psychographics", "Interest label ('eco_fashion', 'outdoor', ...)."
    ),
    Attribute(
        "comment_count",
        NUMBER,
        "person_psychographics",
        "Comments written (0 when none).",
        integer=True,
        minimum=0,
    ),
    Attribute(
        "comment_language",
        TEXT,
        "person_psychographics",
        "Main language of the comments ('fr').",
        pattern=r"[a-z]{2}",
    ),
)

ATTRIBUTES: dict[str, Attribute] = {a.name: a for a in ATTRIBUTE_LIST}

# web event names (int_web_events__attributed.event_name); 'any' matches every event
EVENT_NAMES: tuple[str, ...] = (
    "PageView",
    "ViewContent",
    "AddToCart",
    "InitiateCheckout",
    "Purchase",
    "CartAbandon",
)
ANY_EVENT = "any"

DESTINATIONS: tuple[str, ...] = ("facebook", "linkedin")
# members a destination needs before an audience is usable there (external-apis.md)
DESTINATION_MIN_SIZE: dict[str, int] = {"facebook": 100, "linkedin": 300}
# Facebook lookalike_spec: {"type": "custom_ratio", "ratio": 0.01-0.20, "country": ISO2}
LOOKALIKE_RATIO_MIN = 0.01
LOOKALIKE_RATIO_MAX = 0.20

# the dbt models rules read besides person_segments
EVENTS_MODEL = "int_web_events__attributed"
DISTANCES_MODEL = "person_distances"
SEGMENTS_MODEL = "person_segments"
