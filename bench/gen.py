"""Deterministic CSV files shaped like our users' CRM exports, with the rejects they must give.

Each generator writes the file to upload and a second file of only its valid rows (what the raw
baseline loads: PostgreSQL's casts would stop at the first bad value), and returns the record
index and reject code of every bad row, so a bench checks that exactly those come back.

What makes these files like real ones, and unlike a file made to be fast:
- identifiers are not zero-padded (`OPP-1 ... OPP-10 ... OPP-100`), so numeric order is not byte
  order; in numeric order (as exports usually come) or in random order;
- created dates in the Bulk API tutorial's `2017-10-05 1:15`, in ISO 8601 with seconds and a zone,
  and in `M/D/YYYY`; close dates on every day of the year, ISO or `M/D/YYYY`, sometimes blank;
- stage names and currency codes in mixed letter case (both match without regard to case);
- tens of thousands of accounts; names that need quoting (commas, quotes), and non-ASCII ones;
- bad rows, a few tenths of a percent of each reject kind, spread through the file.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

BATCH = 10_000

STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Proposal", "Negotiation", "Closed Won", "Closed Lost")
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "SEK", "INR", "BRL")
TERRITORIES = (
    "North America East", "North America West", "EMEA North", "EMEA South", "APAC", "LATAM", "DACH",
    "Île-de-France", "Zürich", "São Paulo", "Nordics", "Benelux", "UK & Ireland", "Japan", "ANZ",
)  # fmt: skip
SYLLABLES = (
    "ac", "me", "glo", "bex", "tor", "vin", "sol", "mar", "nor", "dyn", "ex", "tri", "qu", "ant", "lux", "zen", "ko",
    "ra", "pel", "fin", "ö", "ü", "é", "ñ", "ço", "ský", "ło", "ø", "ång",
)  # fmt: skip
SUFFIXES = (
    "Inc.", ", Inc.", "GmbH", "& Söhne GmbH", "Ltd", ", Ltd.", "S.A.", "S.A. de C.V.", "AB", "Oy", "K.K.", "株式会社",
    "SARL", "B.V.", "LLC", "Pty Ltd", "S.p.A.", "A/S", "",
)  # fmt: skip
PRODUCTS = ("Renewal", "Expansion", "New Logo", "Upsell", "Pilot", "Services", "Support, Premium", 'Suite "Pro"')
ZONES = ("Z", "+01:00", "-05:00", "+05:30", "+09:00", "-08:00", "+00:00", "-0300")
START = date(2023, 1, 1)
DAYS = 3 * 365 + 1  # 2023-2025: every day of three years, 29 February 2024 included

# The opportunity file's bad-row kinds: (reject code, what is wrong). Each is REJECT_SHARE of the rows.
OPPORTUNITY_BAD = (
    ("ELQ-00059", "empty"),
    ("ELQ-00061", "no id"),
    ("ELQ-00061", "new without name"),
    ("ELQ-00026", "duplicate id"),
    ("ELQ-00032", "amount"),
    ("ELQ-00032", "created date"),
    ("ELQ-00032", "close date"),
    ("ELQ-00032", "currency"),
    ("ELQ-00032", "name too long"),
    ("ELQ-00039", "stage"),
)
REJECT_SHARE = 0.002


@dataclass
class Expect:
    """What a generated file must give: `rejects` maps record index (1-based data row) to code."""

    path: str
    clean_path: str
    rows: int
    valid: int
    size: int
    rejects: dict[int, str] = field(default_factory=dict)

    def reject_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for code in self.rejects.values():
            counts[code] = counts.get(code, 0) + 1
        return dict(sorted(counts.items()))


def csv_cell(value: str) -> str:
    if any(c in value for c in ',"\n\r') or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


def account_names(n: int, rnd: random.Random) -> list[str]:
    names = []
    for i in range(n):
        word = "".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(2, 4))).capitalize()
        suffix = SUFFIXES[i % len(SUFFIXES)]
        sep = "" if suffix.startswith(",") or not suffix else " "
        names.append(f"{word} {i}{sep}{suffix}")
    return names


def created_value(rnd: random.Random, day: date, kind: int) -> str:
    """A created date in one of the three forms exports use, at a random time of day."""
    t = int(rnd.random() * 86400)
    h, m, s = t // 3600, t // 60 % 60, t % 60
    if kind == 0:  # the Eloqua tutorial's own form
        return f"{day.isoformat()} {h}:{m:02d}"
    if kind == 1:  # ISO 8601 with seconds and a zone
        zone = ZONES[t % len(ZONES)]
        return f"{day.isoformat()}T{h:02d}:{m:02d}:{s:02d}{zone}"
    return f"{day.month}/{day.day}/{day.year}"


def close_value(rnd: random.Random, day: date) -> str:
    r = rnd.random()
    if r < 0.6:
        return day.isoformat()
    if r < 0.9:
        return f"{day.month}/{day.day}/{day.year}"
    return ""


def mixed_case(rnd: random.Random, value: str) -> str:
    r = rnd.random()
    if r < 0.7:
        return value
    if r < 0.8:
        return value.upper()
    if r < 0.9:
        return value.lower()
    return f" {value.title()} "  # stray blanks, trimmed by the server


def _bad_rows(rnd: random.Random, rows: int, kinds: int, share: float) -> dict[int, int]:
    """Row number (0-based) -> kind index, for `share` of the rows per kind, spread evenly at random."""
    per_kind = max(1, round(rows * share)) if rows >= 200 else 0
    picked = rnd.sample(range(1, rows), min(rows - 1, per_kind * kinds)) if per_kind else []
    return {row: i % kinds for i, row in enumerate(picked)}


def opportunities(path: str, clean_path: str, rows: int, order: str = "numeric", seed: int = 15) -> Expect:
    """The opportunity import file of `rows` rows (columns as in the Bulk API tutorial)."""
    rnd = random.Random(seed)
    accounts = account_names(max(100, min(50_000, rows // 20)), rnd)
    numbers = list(range(1, rows + 1))
    if order == "random":
        rnd.shuffle(numbers)
    elif order != "numeric":
        raise ValueError(f"order must be numeric or random, not {order!r}")
    bad = _bad_rows(rnd, rows, len(OPPORTUNITY_BAD), REJECT_SHARE)
    header = "OpportunityID,OpportunityName,AccountName,CreatedDate,Amount,CloseDate,Currency,Stage,Territory\n"
    expect = Expect(path=path, clean_path=clean_path, rows=rows, valid=0, size=0)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    account_cells = [csv_cell(a) for a in accounts]
    territory_cells = [csv_cell(t) for t in TERRITORIES]
    rand = rnd.random
    with (
        open(path + ".tmp", "w", encoding="utf-8", newline="") as f,
        open(clean_path + ".tmp", "w", encoding="utf-8", newline="") as g,
    ):
        f.write(header)
        g.write(header)
        out, clean = [], []
        for i in range(rows):
            a = int(rand() * len(accounts))
            created_day = START + timedelta(days=int(rand() * DAYS))
            kind = bad.get(i)
            if kind is None:
                cells = [
                    f"OPP-{numbers[i]}",
                    csv_cell(f"{accounts[a]} – {PRODUCTS[int(rand() * len(PRODUCTS))]} {created_day.year}"),
                    account_cells[a],
                    created_value(rnd, created_day, i % 3),
                    f"{int(rand() * 2_000_000) + 100}.{int(rand() * 100):02d}"
                    if i % 5
                    else str(int(rand() * 500 + 1) * 1000),
                    close_value(rnd, created_day + timedelta(days=int(rand() * 364) + 1)),
                    mixed_case(rnd, CURRENCIES[int(rand() * len(CURRENCIES))]).strip() if i % 17 else "",
                    csv_cell(mixed_case(rnd, STAGES[int(rand() * len(STAGES))])),
                    territory_cells[int(rand() * len(TERRITORIES))],
                ]
                line = ",".join(cells) + "\n"
                out.append(line)
                clean.append(line)
                expect.valid += 1
            else:
                values = [
                    f"OPP-{numbers[i]}",
                    f"{accounts[a]} – Renewal {created_day.year}",
                    accounts[a],
                    created_value(rnd, created_day, i % 3),
                    "1000.00",
                    close_value(rnd, created_day + timedelta(days=30)),
                    "EUR",
                    "negotiation",
                    TERRITORIES[0],
                ]
                code, what = OPPORTUNITY_BAD[kind]
                expect.rejects[i + 1] = code
                if what == "empty":
                    values = [""] * len(values)
                elif what == "no id":
                    values[0] = ""
                elif what == "new without name":
                    values[1] = ""
                elif what == "duplicate id":  # the id of an earlier valid row
                    j = rnd.randrange(i)
                    while j in bad:
                        j = rnd.randrange(i)
                    values[0] = f"OPP-{numbers[j]}"
                elif what == "amount":
                    values[4] = ("12.3.4", "1,250.00", "ten", "$100", "1e20")[rnd.randrange(5)]
                elif what == "created date":
                    values[3] = ("2024-02-30 1:15", "2023-02-29T10:00:00Z", "13/1/2024", "2024-06-01T10:00:00+25:00",
                                 "2024-06-01 24:00", "31/12/2024")[rnd.randrange(6)]  # fmt: skip
                elif what == "close date":
                    values[5] = ("2024-04-31", "2/30/2025", "2025-00-10", "next week")[rnd.randrange(4)]
                elif what == "currency":
                    values[6] = ("XYZ", "US$", "Euro")[rnd.randrange(3)]
                elif what == "name too long":
                    values[1] = (accounts[a] + " ") * (256 // len(accounts[a]) + 1)
                elif what == "stage":
                    values[7] = ("Closed Lost Forever", "Stage 9", "Won")[rnd.randrange(3)]
                out.append(",".join(csv_cell(v) for v in values) + "\n")
            if len(out) >= BATCH:
                f.writelines(out)
                g.writelines(clean)
                out, clean = [], []
        f.writelines(out)
        g.writelines(clean)
    os.replace(path + ".tmp", path)
    os.replace(clean_path + ".tmp", clean_path)
    expect.size = os.path.getsize(path)
    return expect


# Bump when a generator's output changes: files cached under an older version are made again.
VERSION = 2


def cached(kind: str, out_dir: str, rows: int, order: str = "numeric", seed: int = 15) -> Expect:
    """The file `kind` ("opportunities") of `rows` rows, generated once per (rows, order, seed) and
    kept under `out_dir` with its expectations (generating 1,000,000 rows takes about 30 s)."""
    stem = os.path.join(out_dir, f"{kind}-{order}-{rows}-s{seed}-v{VERSION}")
    meta = stem + ".json"
    if os.path.exists(meta) and os.path.exists(stem + ".csv") and os.path.exists(stem + ".clean.csv"):
        with open(meta) as f:
            doc = json.load(f)
        doc["rejects"] = {int(k): v for k, v in doc["rejects"].items()}
        return Expect(**doc)
    generator = {"opportunities": opportunities, "linkage": linkage, "batch": batch}[kind]
    expect = generator(stem + ".csv", stem + ".clean.csv", rows, order=order, seed=seed)
    with open(meta + ".tmp", "w") as f:
        json.dump(expect.__dict__, f)
    os.replace(meta + ".tmp", meta)
    return expect


FIRST_NAMES = ("anna", "ben", "chloé", "david", "emma", "françois", "grace", "henrik", "ines", "jakub", "kenji", "lea")
LAST_NAMES = ("smith", "müller", "garcía", "rossi", "nowak", "johansson", "dubois", "tanaka", "o'neil", "van-dijk")
# The linkage file's bad-row kinds (reject code, what is wrong), each REJECT_SHARE of the rows.
LINKAGE_BAD = (
    ("ELQ-00059", "empty"),
    ("ELQ-00061", "no id"),
    ("ELQ-00061", "no email"),
    ("ELQ-00084", "unknown opportunity"),
    ("ELQ-00085", "unknown contact"),
)


def contact_email(i: int) -> str:
    """Contact i's e-mail address as stored (the linkage file writes it in other letter cases)."""
    first, last = FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[i // len(FIRST_NAMES) % len(LAST_NAMES)]
    last = last.replace("ü", "u").replace("í", "i").replace("'", "")
    first = first.replace("é", "e").replace("ç", "c")
    return f"{first}.{last}.{i}@firm{i % 20_000}.example"


def linkage_opportunities(rows: int) -> int:
    return max(1, rows // 10)


def linkage(path: str, clean_path: str, rows: int, order: str = "numeric", seed: int = 15) -> Expect:
    """Opportunity-contact links by e-mail: rows grouped by opportunity (about ten contacts each),
    opportunities in numeric (or random) order of their unpadded ids, contacts 1..rows in random
    order, e-mails in mixed letter case (matching ignores case)."""
    rnd = random.Random(seed)
    opps = linkage_opportunities(rows)
    order_of_opps = list(range(1, opps + 1))
    if order == "random":
        rnd.shuffle(order_of_opps)
    contacts = list(range(1, rows + 1))
    rnd.shuffle(contacts)
    bad = _bad_rows(rnd, rows, len(LINKAGE_BAD), REJECT_SHARE)
    expect = Expect(path=path, clean_path=clean_path, rows=rows, valid=0, size=0)
    header = "OpportunityID,EmailAddress\n"
    with (
        open(path + ".tmp", "w", encoding="utf-8", newline="") as f,
        open(clean_path + ".tmp", "w", encoding="utf-8", newline="") as g,
    ):
        f.write(header)
        g.write(header)
        out, clean = [], []
        for i in range(rows):
            ident = f"OPP-{order_of_opps[i * opps // rows]}"
            email = contact_email(contacts[i])
            r = rnd.random()
            email = email if r < 0.6 else email.upper() if r < 0.7 else email[0].upper() + email[1:]
            kind = bad.get(i)
            if kind is not None:
                code, what = LINKAGE_BAD[kind]
                expect.rejects[i + 1] = code
                if what == "empty":
                    ident, email = "", ""
                elif what == "no id":
                    ident = ""
                elif what == "no email":
                    email = ""
                elif what == "unknown opportunity":
                    ident = f"OPP-{opps + 1 + i}"
                elif what == "unknown contact":
                    email = f"nobody.{i}@nowhere.example"
            line = f"{ident},{email}\n"
            out.append(line)
            if kind is None:
                clean.append(line)
                expect.valid += 1
            if len(out) >= BATCH:
                f.writelines(out)
                g.writelines(clean)
                out, clean = [], []
        f.writelines(out)
        g.writelines(clean)
    os.replace(path + ".tmp", path)
    os.replace(clean_path + ".tmp", clean_path)
    expect.size = os.path.getsize(path)
    return expect


BATCH_HEADER = (
    "OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,EmailAddress,PhoneNumber,RaId,PayloadValue,"
    "Label,Label,Reference,AdditionalDataProperties\n"
)
BATCH_STAGES = (*STAGES, "Demo Scheduled", "Contract Sent")  # two the site does not have: created on acceptance
PHONE_FORMATS = ("+44 20 7946 {a:04d}", "+1 (415) 555-{a:04d}", "+49-30-1234{a:04d}", "+33.1.23.45.{b:02d}.{c:02d}",
                 "+61 2 9374 {a:04d}", "+81 3-1234-{a:04d}")  # fmt: skip
# The batch file's bad-row kinds: each makes the upload a 400 that names the row (field, row).
BATCH_BAD = (
    ("OpportunityDateTime", "no seconds"),
    ("OpportunityDateTime", "other offset"),
    ("OpportunityDateTime", "future"),
    ("CurrencyCode", "unknown"),
    ("OpportunityValue", "thousands separator"),
    ("OpportunityValue", "five decimals"),
    ("EmailAddress", "invalid"),
    ("PhoneNumber", "not a phone"),
    ("identifier", "none"),
    ("AdditionalDataProperties", "empty name"),
    ("Reference", "duplicate"),
    ("EmailAddress", "duplicate row"),
)


def batch(path: str, clean_path: str, rows: int, order: str = "numeric", seed: int = 15) -> Expect:
    """The one-shot batch CSV: people who come back (several rows share an e-mail, phone or RaId),
    mixed letter case, phones in the ways people write them, times in every accepted form,
    References unpadded. `path` holds the bad rows (the whole upload must be refused, naming
    exactly them: `rejects` maps row to the field named); `clean_path` is the same file with each
    bad row replaced by a valid one, and is what the bench stores."""
    rnd = random.Random(seed)
    people = max(1, int(rows * 0.8))
    bad = _bad_rows(rnd, rows, len(BATCH_BAD), REJECT_SHARE / 2)
    expect = Expect(path=path, clean_path=clean_path, rows=rows, valid=rows, size=0)
    epoch = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    span = 2 * 365 * 86400 - 86400  # within 2024-2025 (the bench runs later)
    seen_times: list[tuple[str, str, str]] = []  # (time, email, reference) of some valid rows
    with (
        open(path + ".tmp", "w", encoding="utf-8", newline="") as f,
        open(clean_path + ".tmp", "w", encoding="utf-8", newline="") as g,
    ):
        f.write(BATCH_HEADER)
        g.write(BATCH_HEADER)
        out, clean = [], []
        for i in range(rows):
            p = int(rnd.random() * people) + 1
            when = datetime.fromtimestamp(epoch + int(rnd.random() * span), UTC)
            r = rnd.random()
            if r < 0.5:
                stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
            elif r < 0.75:
                digits = 1 + int(rnd.random() * 6)
                stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + str(int(rnd.random() * 10**digits)).zfill(digits) + "Z"
            else:
                stamp = when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
            email = contact_email(p) if p % 20 else ""
            email = email if rnd.random() < 0.7 else email.upper() if rnd.random() < 0.5 else email.title()
            phone = (
                PHONE_FORMATS[p % len(PHONE_FORMATS)].format(a=p % 10_000, b=p % 100, c=p // 100 % 100)
                if p % 3 == 0 or not email
                else ""
            )
            raid = f"ra-{p:x}" if p % 5 == 0 else ""
            payload = f"crm-{p}" if p % 10 == 0 else ""
            value = (
                f"{int(rnd.random() * 100_000)}.{int(rnd.random() * 10_000):04d}"
                if i % 3
                else str(int(rnd.random() * 5000))
            )
            if i % 50 == 0:
                value = "-" + value
            cells = [
                stamp,
                mixed_case(rnd, CURRENCIES[int(rnd.random() * len(CURRENCIES))]).strip(),
                value,
                mixed_case(rnd, BATCH_STAGES[int(rnd.random() * len(BATCH_STAGES))]),
                email,
                phone,
                raid,
                payload,
                ("hot", "warm", "cold", "")[i % 4],
                f"wave {i % 7}" if i % 2 else "",
                f"REF-{i + 1}" if i % 10 else "",
                f'Name=Source,Value=Google, Ads;Name=Campaign,Value=Spring "{i % 100}"' if i % 3 == 0 else "",
            ]
            line = ",".join(csv_cell(c) for c in cells) + "\n"
            clean.append(line)
            kind = bad.get(i)
            if kind is None and len(seen_times) < 1000 and email and cells[10] and rnd.random() < 0.01:
                seen_times.append((stamp, email, cells[10]))  # a valid row later bad rows may repeat
            if kind is not None and seen_times:
                column, what = BATCH_BAD[kind]
                expect.rejects[i + 1] = column
                if what == "no seconds":
                    cells[0] = stamp[:16]
                elif what == "other offset":
                    cells[0] = stamp[:19] + "+01:00"
                elif what == "future":
                    cells[0] = "2099-01-01T00:00:00Z"
                elif what == "unknown":
                    cells[1] = "XYZ"
                elif what == "thousands separator":
                    cells[2] = "1,200.00"
                elif what == "five decimals":
                    cells[2] = "12.34567"
                elif what == "invalid":
                    cells[4] = "someone@@example.com"
                elif what == "not a phone":
                    cells[5] = "020 7946 CALL"
                elif what == "none":
                    cells[4:8] = ["", "", "", ""]
                elif what == "empty name":
                    cells[11] = "Name=,Value=x"
                elif what == "duplicate":  # an earlier row's Reference, in other letter case
                    cells[10] = seen_times[int(rnd.random() * len(seen_times))][2].lower()
                elif what == "duplicate row":  # an earlier row's time and e-mail
                    earlier = seen_times[int(rnd.random() * len(seen_times))]
                    cells[0], cells[4] = earlier[0], earlier[1].upper()
                    cells[10] = ""
                out.append(",".join(csv_cell(c) for c in cells) + "\n")
            else:
                out.append(line)
            if len(out) >= BATCH:
                f.writelines(out)
                g.writelines(clean)
                out, clean = [], []
        f.writelines(out)
        g.writelines(clean)
    os.replace(path + ".tmp", path)
    os.replace(clean_path + ".tmp", clean_path)
    expect.size = os.path.getsize(clean_path)
    return expect


def split_parts(path: str, max_bytes: int) -> list[tuple[int, int]]:
    """(start, end) byte ranges of the data lines, cut at line boundaries so that the header
    plus each range is at most `max_bytes`. (No generated cell holds a line break.)"""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        header_len = len(f.readline())
        budget = max_bytes - header_len
        parts = []
        start = header_len
        while start < size:
            end = start + budget
            if end >= size:
                end = size
            else:
                # Back up to the last newline at or before `end`.
                window_start = max(start, end - 64 * 1024)
                f.seek(window_start)
                chunk = f.read(end - window_start)
                nl = chunk.rfind(b"\n")
                if nl < 0:
                    raise ValueError("a CSV line is longer than the part size")
                end = window_start + nl + 1
            parts.append((start, end))
            start = end
    return parts
