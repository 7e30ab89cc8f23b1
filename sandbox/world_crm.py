"""The world's other CRMs: Salesforce, HubSpot deals and a CRM file drop (a post-pass of ``world.generate``).

``generate_crm(out_dir, seed=..., as_of=...)`` reads the HubSpot contacts and
the planted truth line by line (never whole) and writes, reproducibly:

- ``salesforce_contacts.jsonl`` / ``salesforce_leads.jsonl``: about 30% of the
  persons also live in Salesforce (70% as a Contact, 30% as a Lead), with the
  small differences two CRMs really show: e-mail case, another phone format,
  names re-typed, and for about 40% a more recent modification than HubSpot's.
  Salesforce field names and formats (18-character ids with their case-safe
  suffix, ``2026-05-01T10:20:30.000+0000`` timestamps); data loads give runs
  of records one ``SystemModstamp``, as in a real org.
- ``salesforce_opportunities.jsonl``: opportunities of Salesforce contacts,
  more and further down the funnel for people of higher purchase intent.
- ``hubspot_deals.jsonl``: deals as the HubSpot v3 API returns them; the
  associated contact is the deal property ``contact_id`` (search answers carry
  no associations, so the sandbox models it as a custom deal property).
- ``crm_drop/contacts_YYYYMMDD.csv`` (two exports: ``;`` in UTF-8 with a BOM,
  and ``,`` in latin-1) and ``crm_drop/orders_YYYYMMDD.parquet`` (order_id,
  customer_id or only contact_email for guest checkouts, amount, currency,
  ordered_at); orders follow purchase intent and the person's interests.
- ``truth_crm.jsonl``: every Salesforce and file-drop id → the world's
  ``contact_id`` (the HubSpot id), so identity resolution can be measured.
"""

from __future__ import annotations

import csv
import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

SF_CONTACTS_FILE = "salesforce_contacts.jsonl"
SF_LEADS_FILE = "salesforce_leads.jsonl"
SF_OPPORTUNITIES_FILE = "salesforce_opportunities.jsonl"
DEALS_FILE = "hubspot_deals.jsonl"
TRUTH_CRM_FILE = "truth_crm.jsonl"
DROP_DIR = "crm_drop"
FIRST_DEAL_ID = 9_000_000_001
SF_SHARE = 0.30
FILE_SHARE = 0.25
ORDERS_ROW_GROUP = 50_000
DROP_CONTACT_COLUMNS = (
    "customer_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "postal_code",
    "city",
    "country",
    "birth_date",
    "newsletter_opt_in",
    "updated_at",
)
ORDERS_SCHEMA = pa.schema(
    [
        ("order_id", pa.string()),
        ("customer_id", pa.string()),
        ("contact_email", pa.string()),
        ("amount", pa.float64()),
        ("currency", pa.string()),
        ("ordered_at", pa.timestamp("ms", tz="UTC")),
    ]
)
DEAL_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)
OPP_STAGES = (
    ("Prospecting", 10),
    ("Qualification", 20),
    ("Needs Analysis", 30),
    ("Proposal/Price Quote", 60),
    ("Negotiation/Review", 80),
    ("Closed Won", 100),
    ("Closed Lost", 0),
)
LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_id(prefix: str, n: int) -> str:
    """An 18-character Salesforce id: key prefix, pod, base-62 number, and the case-safe suffix."""
    digits = ""
    for _ in range(9):
        n, r = divmod(n, 62)
        digits = _B62[r] + digits
    base = f"{prefix}5g0{digits}"
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(base[chunk * 5 : chunk * 5 + 5]) if "A" <= ch <= "Z")
        suffix += _SUFFIX[bits]
    return base + suffix


def sf_time(ms: int) -> str:
    """Salesforce's REST datetime format (second precision, as orgs store it)."""
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def hs_time(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _phone_variant(e164: str | None, country: str, u: float) -> str | None:
    """The same number typed another way than in HubSpot."""
    if not e164:
        return None
    if u < 0.45:
        return f"+{e164}"
    if country == "FR" and u < 0.85:
        n = "0" + e164[2:]
        return " ".join(n[i : i + 2] for i in range(0, 10, 2))
    return f"00{e164}"


def _email_variant(email: str | None, u: float) -> str | None:
    if not email:
        return None
    email = email.strip()
    if u < 0.55:
        return email.lower()
    if u < 0.75:
        return email[:1].upper() + email[1:].lower()
    if u < 0.85:
        return email.upper()
    return email


def _title(name: str | None) -> str | None:
    name = _clean(name)
    return "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-")) if name else None


class _Runs:
    """Data loads: runs of records given one timestamp (ties the connectors must survive)."""

    def __init__(self, rng: Random, chance: float) -> None:
        self.rng = rng
        self.chance = chance
        self.left = 0
        self.stamp = 0

    def stamp_for(self, lo_ms: int, hi_ms: int) -> int | None:
        if self.left == 0 and self.rng.random() < self.chance:
            self.left = 20 + int(self.rng.random() * 280)
            self.stamp = hi_ms - int(self.rng.random() * 60 * 86_400_000)
        if self.left:
            self.left -= 1
            return max(self.stamp, lo_ms)
        return None


def generate_crm(out_dir: Path, *, seed: int, as_of: datetime) -> dict[str, Any]:
    """Write the Salesforce, HubSpot deals and file-drop data of the world in ``out_dir``; return counts."""
    from sandbox.world import PRODUCTS  # noqa: PLC0415 - world imports this module lazily too

    out_dir = Path(out_dir)
    drop = out_dir / DROP_DIR
    for name in (SF_CONTACTS_FILE, SF_LEADS_FILE, SF_OPPORTUNITIES_FILE, DEALS_FILE, TRUTH_CRM_FILE):
        (out_dir / name).unlink(missing_ok=True)
    if drop.is_dir():
        for old in list(drop.glob("contacts_*.csv")) + list(drop.glob("orders_*.parquet")):
            old.unlink()
    drop.mkdir(parents=True, exist_ok=True)

    rng = Random(seed * 1_000_003 + 17)
    rnd = rng.random
    as_of_ms = int(as_of.timestamp() * 1000)
    day_a = (as_of - timedelta(days=8)).date()
    day_b = (as_of - timedelta(days=1)).date()
    sf_runs, deal_runs = _Runs(rng, 0.004), _Runs(rng, 0.003)
    counts = {"salesforce_contacts": 0, "salesforce_leads": 0, "salesforce_opportunities": 0}
    counts.update({"hubspot_deals": 0, "file_contacts": 0, "orders": 0})
    sf_seq = {"003": 0, "00Q": 0, "006": 0}
    deal_id = FIRST_DEAL_ID
    order_seq = 0

    def next_sf(prefix: str) -> str:
        sf_seq[prefix] += 1
        return salesforce_id(prefix, 1_000_000 + sf_seq[prefix] * 7919)

    orders_a: list[dict[str, Any]] = []
    orders_b: list[dict[str, Any]] = []
    writers: dict[date, pq.ParquetWriter] = {}

    def flush_orders(day: date, rows: list[dict[str, Any]], force: bool = False) -> None:
        if not rows or (len(rows) < ORDERS_ROW_GROUP and not force):
            return
        writer = writers.get(day)
        if writer is None:
            path = drop / f"orders_{day:%Y%m%d}.parquet"
            writer = writers[day] = pq.ParquetWriter(path, ORDERS_SCHEMA, compression="zstd")
        writer.write_table(pa.Table.from_pylist(rows, schema=ORDERS_SCHEMA))
        rows.clear()

    with (
        open(out_dir / "hubspot_contacts.jsonl", encoding="utf-8") as hs_fh,
        open(out_dir / "truth.jsonl", encoding="utf-8") as truth_fh,
        open(out_dir / SF_CONTACTS_FILE, "w", encoding="utf-8") as sfc_fh,
        open(out_dir / SF_LEADS_FILE, "w", encoding="utf-8") as sfl_fh,
        open(out_dir / SF_OPPORTUNITIES_FILE, "w", encoding="utf-8") as sfo_fh,
        open(out_dir / DEALS_FILE, "w", encoding="utf-8") as deals_fh,
        open(out_dir / TRUTH_CRM_FILE, "w", encoding="utf-8") as tcrm_fh,
        open(drop / f"contacts_{day_a:%Y%m%d}.csv", "w", encoding="utf-8-sig", newline="") as csv_a,
        open(
            drop / f"contacts_{day_b:%Y%m%d}.csv", "w", encoding="latin-1", errors="replace", newline=""
        ) as csv_b,
    ):
        csv_writers = (csv.writer(csv_a, delimiter=";"), csv.writer(csv_b, delimiter=","))
        for w in csv_writers:
            w.writerow(DROP_CONTACT_COLUMNS)

        def dump(fh: Any, obj: dict[str, Any]) -> None:
            fh.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")

        for hs_line, truth_line in zip(hs_fh, truth_fh, strict=True):
            contact = json.loads(hs_line)
            truth = json.loads(truth_line)
            cid = contact["id"]
            props = contact["properties"]
            intent = float(truth["purchase_intent"])
            cluster = truth["interest_cluster"]
            country = truth["country_code"]
            created_ms = _ms(contact["createdAt"])
            lm_ms = _ms(contact["updatedAt"])
            email = _clean(props.get("email"))

            # -- Salesforce
            if rnd() < SF_SHARE:
                is_contact = rnd() < 0.7
                sf_id = next_sf("003" if is_contact else "00Q")
                sf_created = created_ms + int(rnd() * 30 * 86_400_000)
                sf_created = min(sf_created, as_of_ms - 3_600_000)
                if rnd() < 0.4:  # touched in Salesforce after the last HubSpot change
                    sf_lm = lm_ms + int((as_of_ms - 1 - lm_ms) * rnd())
                else:
                    sf_lm = sf_created + int((as_of_ms - 1 - sf_created) * rnd() ** 2)
                sf_lm = max(sf_lm, sf_created)
                stamp = sf_runs.stamp_for(sf_lm, as_of_ms - 1)
                modstamp = stamp if stamp is not None else sf_lm + int(rnd() * 5_000)
                sf_lm = min(sf_lm, modstamp)
                record: dict[str, Any] = {
                    "Id": sf_id,
                    "FirstName": _title(props.get("firstname")),
                    "LastName": _title(props.get("lastname")) or "[not provided]",
                    "Email": _email_variant(email, rnd()),
                    "Phone": _phone_variant(truth.get("phone_e164_digits"), country, rnd()),
                }
                consent = props.get("marketing_consent") == "true"
                opted_out = not consent if rnd() < 0.95 else consent  # the CRMs disagree, sometimes
                if is_contact:
                    record.update(
                        {
                            "MailingPostalCode": _clean(props.get("zip")),
                            "MailingCity": _title(props.get("city")),
                            "MailingCountry": country if rnd() < 0.6 else _clean(props.get("country")),
                            "Birthdate": truth["birth_date"] if rnd() < 0.7 else None,
                            "HasOptedOutOfEmail": opted_out,
                            "LeadSource": LEAD_SOURCES[int(rnd() * len(LEAD_SOURCES))],
                        }
                    )
                else:
                    record.update(
                        {
                            "Company": f"{_title(props.get('lastname')) or 'Household'} (individual)",
                            "PostalCode": _clean(props.get("zip")),
                            "City": _title(props.get("city")),
                            "Country": country if rnd() < 0.6 else _clean(props.get("country")),
                            "HasOptedOutOfEmail": opted_out,
                            "LeadSource": LEAD_SOURCES[int(rnd() * len(LEAD_SOURCES))],
                            "Status": LEAD_STATUSES[min(3, int(intent * 3 + rnd()))],
                            "IsConverted": False,
                        }
                    )
                record.update(
                    {
                        "CreatedDate": sf_time(sf_created),
                        "LastModifiedDate": sf_time(sf_lm),
                        "SystemModstamp": sf_time(modstamp),
                        "IsDeleted": False,
                    }
                )
                dump(sfc_fh if is_contact else sfl_fh, record)
                kind = "Contact" if is_contact else "Lead"
                counts["salesforce_contacts" if is_contact else "salesforce_leads"] += 1
                dump(tcrm_fh, {"source": "salesforce", "object": kind, "id": sf_id, "contact_id": cid})
                if is_contact:
                    n_opps = int(intent * 2.2 + rnd() - 0.3)
                    for _ in range(max(0, n_opps)):
                        opp_id = next_sf("006")
                        o_created = sf_created + int((as_of_ms - 1 - sf_created) * rnd())
                        o_lm = o_created + int((as_of_ms - 1 - o_created) * rnd() ** 2)
                        o_stamp = sf_runs.stamp_for(o_lm, as_of_ms - 1)
                        o_mod = o_stamp if o_stamp is not None else o_lm
                        stage, probability = OPP_STAGES[min(6, int((intent + rnd() * 0.6) * 6))]
                        slug, price = PRODUCTS[cluster][int(rnd() * len(PRODUCTS[cluster]))]
                        close_day = datetime.fromtimestamp(o_created / 1000, tz=UTC).date() + timedelta(
                            days=int(rnd() * 90)
                        )
                        dump(
                            sfo_fh,
                            {
                                "Id": opp_id,
                                "Name": f"{slug} x{1 + int(rnd() * 3)}",
                                "ContactId": sf_id,
                                "Amount": round(price * (1 + int(rnd() * 3)), 2),
                                "StageName": stage,
                                "Probability": probability,
                                "CloseDate": close_day.isoformat(),
                                "IsClosed": stage.startswith("Closed"),
                                "IsWon": stage == "Closed Won",
                                "CreatedDate": sf_time(o_created),
                                "LastModifiedDate": sf_time(min(o_lm, o_mod)),
                                "SystemModstamp": sf_time(o_mod),
                                "IsDeleted": False,
                            },
                        )
                        dump(
                            tcrm_fh,
                            {
                                "source": "salesforce",
                                "object": "Opportunity",
                                "id": opp_id,
                                "contact_id": cid,
                            },
                        )
                        counts["salesforce_opportunities"] += 1

            # -- HubSpot deals
            n_deals = int(intent * 1.6 + rnd() - 0.45)
            for _ in range(max(0, n_deals)):
                d_created = created_ms + int((as_of_ms - 1 - created_ms) * rnd())
                d_lm = d_created + int((as_of_ms - 1 - d_created) * rnd() ** 2)
                d_stamp = deal_runs.stamp_for(d_lm, as_of_ms - 1)
                if d_stamp is not None:
                    d_lm = d_stamp
                stage = DEAL_STAGES[min(6, int((intent + rnd() * 0.6) * 6))]
                slug, price = PRODUCTS[cluster][int(rnd() * len(PRODUCTS[cluster]))]
                close = hs_time(d_created + int(rnd() * 60) * 86_400_000)
                c_iso, l_iso = hs_time(d_created), hs_time(d_lm)
                deals_fh.write(
                    f'{{"id":"{deal_id}","properties":{{"dealname":"{slug} for {cid}",'
                    f'"amount":"{price * (1 + int(rnd() * 3)):.2f}","dealstage":"{stage}",'
                    f'"pipeline":"default","closedate":"{close}","createdate":"{c_iso}",'
                    f'"hs_lastmodifieddate":"{l_iso}","hs_object_id":"{deal_id}","contact_id":"{cid}"}},'
                    f'"createdAt":"{c_iso}","updatedAt":"{l_iso}","archived":false}}\n'
                )
                deal_id += 1
                counts["hubspot_deals"] += 1

            # -- the shop's file exports and its orders
            customer_id = None
            if rnd() < FILE_SHARE and email:
                customer_id = f"C{int(cid):09d}"
                late = rnd() < 0.4
                day = day_b if late else day_a
                csv_writers[late].writerow(
                    (
                        customer_id,
                        _email_variant(email, rnd()),
                        _clean(props.get("firstname")) or "",
                        _clean(props.get("lastname")) or "",
                        _phone_variant(truth.get("phone_e164_digits"), country, rnd()) or "",
                        _clean(props.get("zip")) or "",
                        _clean(props.get("city")) or "",
                        country,
                        truth["birth_date"] if rnd() < 0.8 else "",
                        "1" if props.get("marketing_consent") == "true" else "0",
                        f"{day.isoformat()}T0{int(rnd() * 6)}:{int(rnd() * 60):02d}:00Z",
                    )
                )
                dump(tcrm_fh, {"source": "files", "object": "contact", "id": customer_id, "contact_id": cid})
                counts["file_contacts"] += 1
            if email:
                n_orders = int(intent * intent * 4 + rnd() - 0.2)
                for _ in range(max(0, n_orders)):
                    order_seq += 1
                    late = rnd() < 0.5
                    day = day_b if late else day_a
                    slug, price = PRODUCTS[cluster][int(rnd() * len(PRODUCTS[cluster]))]
                    ordered = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(
                        seconds=int(rnd() * 7 * 86_400)
                    )
                    (orders_b if late else orders_a).append(
                        {
                            "order_id": f"ORD-{seed}-{order_seq:08d}",
                            "customer_id": customer_id,
                            "contact_email": _email_variant(email, rnd()),
                            "amount": round(price * (1 + int(rnd() * 2)), 2),
                            "currency": "EUR",
                            "ordered_at": ordered,
                        }
                    )
                    counts["orders"] += 1
                flush_orders(day_a, orders_a)
                flush_orders(day_b, orders_b)
    flush_orders(day_a, orders_a, force=True)
    flush_orders(day_b, orders_b, force=True)
    for day in (day_a, day_b):
        if day not in writers:  # an empty world still gets its (empty) order files
            writers[day] = pq.ParquetWriter(drop / f"orders_{day:%Y%m%d}.parquet", ORDERS_SCHEMA)
        writers[day].close()
    log.info("world crm: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts
