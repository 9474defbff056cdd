"""Row-by-row validation of a batch CSV: pure functions, no database.

`scan()` streams the file once and yields each valid row as the dict that is staged; every problem
becomes a `Failure(field=column, row=n, value=raw, constraint=message)` in an `ErrorSink`. Row `n`
is the 1-based number of the data record (`csvfiles.data_records`: the header is not counted, blank
lines are skipped and not counted); the same number is the sync's `record_index` and the row number in the error and
success files. Checks across rows (duplicates, Reference unique within the file and the site) run
set-based in SQL afterwards (`doors.batch.sql.validation_conflicts`).
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import phonenumbers
import pycountry
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, region_code_for_country_code

from doors.batch.csvfiles import OUTCOME_COLUMNS, data_records, first_row
from kernel.csvcells import unneutralise
from kernel.exceptions import Failure
from kernel.limits import text_problem

REQUIRED = ("OpportunityDateTime", "CurrencyCode", "OpportunityValue", "PipelineStage")
IDENTIFIERS = ("RaId", "EmailAddress", "PhoneNumber", "PayloadValue")
# Beyond Ruler's document: the record's ids in Salesforce and HubSpot (Ruddr's salesforceId, hubspotId).
EXTERNAL_IDS = ("SalesforceId", "HubspotId")
OPTIONAL = ("Reference", "AdditionalDataProperties", *EXTERNAL_IDS)
REPEATABLE = ("Label",)
COLUMNS = (*REQUIRED, *IDENTIFIERS, *OPTIONAL, *REPEATABLE)
_CANONICAL = {c.lower(): c for c in COLUMNS}
# The outcome columns of a result file: ignored, so a fixed error file can be uploaded again as it is.
_IGNORED = {c.lower() for c in OUTCOME_COLUMNS}

MAX_ERRORS = 1000  # row errors listed in a 400; `totalErrors` counts them all
MAX_NEW_STAGES = 1000  # distinct PipelineStage names a file may introduce
TEXT_MAX = 255  # Reference, RaId, PayloadValue, each label, property names (column widths)
STAGE_MAX = 100
VALUE_MAX = 1000  # a property value
AMOUNT_INTEGER_DIGITS = 16  # amount is numeric(20, 4)
AMOUNT_FRACTION_DIGITS = 4

# Accepted OpportunityDateTime forms, all UTC: Ruler's own `yyyy-MM-dd`, `yyyy-MM-ddTHH:mm:ss` and
# `yyyy-MM-ddTHH:mm:ss.ffffff` (no zone: UTC), and the date-time forms followed by `Z` or `+00:00`.
# Fractional seconds: 1 to 6 digits. ASCII digits only (`\d` takes every script's).
_DATETIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|\+00:00)?)?$")
_AMOUNT = re.compile(r"^[+-]?(?:(\d+)(?:\.(\d*))?|\.(\d+))$")
_PROPERTY = re.compile(r"^\s*Name=(?P<name>[^,]*),\s*Value=(?P<value>.*?)\s*$", re.DOTALL)
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")  # ASCII digits only (`\d` takes every script's)
# The WHATWG (HTML) definition of a valid email address, with at least one dot in the domain.
_EMAIL = re.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+$"
)
CURRENCIES = frozenset(c.alpha_3 for c in pycountry.currencies)


class FileError(Exception):
    """The file as a whole is unusable (encoding, CSV syntax, header): one failure, no row list."""

    def __init__(self, failure: Failure):
        self.failure = failure
        super().__init__(failure.constraint)


@dataclass
class ErrorSink:
    """Keeps the first `cap` failures (in row order, as found) and counts all of them."""

    cap: int = MAX_ERRORS
    failures: list[Failure] = field(default_factory=list)
    total: int = 0

    def add(self, failure: Failure) -> None:
        self.total += 1
        if len(self.failures) < self.cap:
            self.failures.append(failure)

    def merge(self, failures: Iterable[Failure], total: int) -> None:
        """Fold in failures found later (by SQL), keeping the first `cap` by row number."""
        merged = sorted([*self.failures, *failures], key=lambda f: f.row or 0)
        self.failures = merged[: self.cap]
        self.total += total


@dataclass
class Header:
    positions: dict[str, int]  # canonical column -> cell index (single columns)
    labels: list[int]  # cell indexes of the Label columns
    width: int
    ignored: list[int] = field(default_factory=list)  # cell indexes of result-file outcome columns


def parse_header(cells: list[str]) -> Header:
    names = [c.strip() for c in cells]
    if not any(names):
        raise FileError(Failure(field="file", constraint="The file has no header row."))
    known = [_CANONICAL.get(n.lower()) for n in names]
    if not any(known):
        raise FileError(
            Failure(
                field="file",
                value=",".join(names)[:200],
                constraint="The first line must be the header row naming the columns: " + ", ".join(COLUMNS) + ".",
            )
        )
    failures = []
    positions: dict[str, int] = {}
    labels: list[int] = []
    ignored: list[int] = []
    for i, (name, canonical) in enumerate(zip(names, known, strict=True)):
        if canonical is None and name.lower() in _IGNORED:
            ignored.append(i)
        elif canonical is None:
            failures.append(
                Failure(field="header", value=name, constraint="Unknown column. Known: " + ", ".join(COLUMNS) + ".")
            )
        elif canonical in REPEATABLE:
            labels.append(i)
        elif canonical in positions:
            failures.append(Failure(field="header", value=name, constraint="Column appears more than once."))
        else:
            positions[canonical] = i
    for column in REQUIRED:
        if column not in positions:
            failures.append(Failure(field="header", value=column, constraint="Required column is missing."))
    if not any(c in positions for c in IDENTIFIERS):
        failures.append(
            Failure(field="header", constraint="At least one identifier column is required: " + ", ".join(IDENTIFIERS))
        )
    if failures:
        raise HeaderErrors(failures)
    return Header(positions=positions, labels=labels, width=len(names), ignored=ignored)


class HeaderErrors(Exception):
    def __init__(self, failures: list[Failure]):
        self.failures = failures
        super().__init__(f"{len(failures)} header errors")


def parse_datetime_utc(raw: str, now: datetime) -> tuple[str | None, str | None]:
    """(canonical `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, None) or (None, why not). A date alone is its
    midnight; a form without a zone is UTC."""
    if not _DATETIME.match(raw):
        return None, (
            "Must be an ISO 8601 UTC date or date-time: yyyy-MM-dd, yyyy-MM-ddTHH:mm:ss or "
            "yyyy-MM-ddTHH:mm:ss.ffffff, optionally followed by Z or +00:00."
        )
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None, "Not a valid calendar date-time."
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value > now:
        return None, "Must not be in the future."
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z"), None


def parse_amount(raw: str) -> str | None:
    """Why `raw` is not an acceptable amount, or None."""
    match = _AMOUNT.match(raw)
    if not match:
        return "Must be a decimal number such as 1200 or 1200.50 (no thousands separators or exponent)."
    whole, fraction = match.group(1) or "", match.group(2) or match.group(3) or ""
    if len(whole.lstrip("0")) > AMOUNT_INTEGER_DIGITS:
        return f"Must be less than 10^{AMOUNT_INTEGER_DIGITS} in absolute value."
    if len(fraction.rstrip("0")) > AMOUNT_FRACTION_DIGITS:
        return f"At most {AMOUNT_FRACTION_DIGITS} decimal places."
    return None


def parse_phone(raw: str, region: str | None = None) -> tuple[str | None, str | None]:
    """(the number to store and match on, None) or (None, why not).

    International (`+`, country code, number; spaces, dots, dashes, brackets and an extension
    allowed): checked with phonenumbers (a known country code and a length possible for it,
    `is_possible_number`; the full numbering-plan check costs ~100 us a row) and stored in E.164.
    National (`01234 567890`, `(020) 7946-0958`, `00 44 ...`): read as a number of the site's
    `region` the same way, stored in E.164. Without a region a national number cannot be
    normalised: it is kept as sent (digits, spaces and `+ ( ) . - /`, an optional extension, at
    least three digits, at most PHONE_MAX characters). An extension is not part of E.164: the
    stored form drops it (the sent cell stays in the job's file and its result files)."""
    if not raw.startswith("+"):
        return _parse_national(raw, region)
    compact = raw.translate(_PHONE_PUNCTUATION)
    number = _plain_international(compact) if len(raw) <= _MAX_PHONE_INPUT else None
    e164 = compact  # what formatting the parser-free number gives
    if number is None:
        try:
            number = phonenumbers.parse(raw, None)
        except phonenumbers.NumberParseException:
            return None, "Not a phone number."
        e164 = None
    if not phonenumbers.is_possible_number(number):
        return None, "Not a possible phone number for its country code."
    return e164 or phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


PHONE_MAX = 50  # a contact's phone column: a number kept as sent must fit it
# A number as people write it (the contacts door's loose rule): digits, spaces, + ( ) . - /, then
# an optional extension (`x 12`, `ext. 12`).
_LOOSE_PHONE = re.compile(r"^\+?[0-9 ().\-/]{3,40}(?:\s*(?:x|ext\.?)\s*[0-9]{1,6})?$", re.IGNORECASE)


def _parse_national(raw: str, region: str | None) -> tuple[str | None, str | None]:
    if not _LOOSE_PHONE.match(raw) or sum(c.isdigit() for c in raw) < 3:
        return None, (
            "Not a phone number: digits, spaces, brackets, dots and dashes, optionally an extension "
            "(x 12, ext. 12); international numbers start with + and the country code."
        )
    if not region:
        if len(raw) > PHONE_MAX:
            return None, f"At most {PHONE_MAX} characters."
        return raw, None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        return None, (
            f"Not a possible phone number of the site's phone region {region}: write it with + and the country code."
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


_PHONE_PUNCTUATION = str.maketrans("", "", " .-()")
_MAX_PHONE_INPUT = 250  # phonenumbers refuses longer input (TOO_LONG) whatever it holds


def _plain_international(compact: str) -> phonenumbers.PhoneNumber | None:
    """The number `phonenumbers.parse` would make of `compact` (`+` and digits), built without it
    (parse costs ~30 us): only when parse would keep the digits after the country code as they are,
    i.e. no national prefix to strip or rewrite (`national_prefix_for_parsing` does not match, and
    no leading zero kept Italian-style). Anything else (None) goes to the parser."""
    if not _E164.fullmatch(compact):
        return None
    for size in (1, 2, 3):
        code = int(compact[1 : 1 + size])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            national = compact[1 + size :]
            prefix = _national_prefix(code)
            if national[0] == "0" or (prefix is not None and prefix.match(national)):
                return None
            return phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    return None


@functools.cache
def _national_prefix(code: int) -> re.Pattern | None:
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region_code_for_country_code(code))
    pattern = metadata.national_prefix_for_parsing if metadata is not None else None
    return re.compile(pattern) if pattern else None


def parse_email(raw: str) -> str | None:
    if len(raw) > 254:
        return "At most 254 characters."
    if not _EMAIL.match(raw):
        return "Not a valid email address."
    return None


def parse_properties(raw: str) -> tuple[dict[str, str] | None, str | None]:
    """`Name=X,Value=Y;Name=...` -> ({X: Y, ...}, None) or (None, why not). A trailing `;` is fine."""
    out: dict[str, str] = {}
    entries = raw.split(";")
    if entries and not entries[-1].strip():
        entries.pop()
    for n, entry in enumerate(entries, start=1):
        match = _PROPERTY.match(entry)
        if not match:
            return None, f"Entry {n} ({entry.strip()[:50]!r}) must look like Name=X,Value=Y."
        name, value = match.group("name").strip(), match.group("value")
        if not name:
            return None, f"Entry {n}: the Name is empty."
        if len(name) > TEXT_MAX or len(value) > VALUE_MAX:
            return None, f"Entry {n}: names are at most {TEXT_MAX} and values at most {VALUE_MAX} characters."
        if name in out:
            return None, f"Entry {n}: property {name!r} appears more than once."
        out[name] = value
    return out, None


@dataclass
class ScanResult:
    rows: int = 0
    stages: dict[str, str] = field(default_factory=dict)  # lower-case name -> first spelling


def scan(
    reader: Iterator[list[str]],
    *,
    now: datetime,
    sink: ErrorSink,
    job_id: str,
    result: ScanResult,
    phone_region: str | None = None,
) -> Iterator[dict]:
    """Validate every row; yield the staged data of each valid one. Raises FileError/HeaderErrors.
    `phone_region`: the site's region for national phone numbers (`Site.phone_region`)."""
    try:
        header_cells = first_row(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise FileError(_file_failure(exc, 0)) from None
    if header_cells is None:
        raise FileError(Failure(field="file", constraint="The file is empty."))
    header = parse_header(header_cells)
    pos = header.positions
    # Cell positions; an absent column reads the empty cell each row gets appended at its end (-1).
    p_when, p_cur, p_amount, p_stage = (pos[c] for c in REQUIRED)
    p_raid, p_email, p_phone, p_payload = (pos.get(c, -1) for c in IDENTIFIERS)
    p_ref, p_props = pos.get("Reference", -1), pos.get("AdditionalDataProperties", -1)
    p_external = [(column, pos.get(column, -1)) for column in EXTERNAL_IDS]
    labels_at = header.labels
    width = header.width
    names = [""] * width  # cell index -> the column's name, for errors
    for column, i in pos.items():
        names[i] = column
    for i in labels_at:
        names[i] = "Label"
    n = 0
    records = data_records(reader)
    while True:
        try:
            record = next(records, None)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise FileError(_file_failure(exc, n + 1)) from None
        if record is None:
            break
        n, row = record
        result.rows = n
        if len(row) != width:
            sink.add(
                Failure(
                    field="row",
                    row=n,
                    value=str(len(row)),
                    constraint=f"Has {len(row)} values; the header has {width}.",
                )
            )
            continue
        if "\x00" in "".join(row):  # Python's csv reads NUL; PostgreSQL cannot store it
            i, cell = next((i, c) for i, c in enumerate(row) if "\x00" in c)
            sink.add(Failure(field=names[i] or "row", row=n, value=cell, constraint=text_problem(cell)))
            continue
        errors = sink.total
        data: dict = {"_row": n}
        # Every cell as an upload reads it (`unneutralise`d, stripped), in one pass.
        cells = [c.strip() if c[:1] != "'" else unneutralise(c).strip() for c in row]
        cells.append("")

        raw = cells[p_when]
        if not raw:
            sink.add(Failure(field="OpportunityDateTime", row=n, constraint="Required."))
        else:
            when, why = parse_datetime_utc(raw, now)
            if why:
                sink.add(Failure(field="OpportunityDateTime", row=n, value=raw, constraint=why))
            data["OpportunityDateTime"] = when

        raw = cells[p_cur]
        if not raw:
            sink.add(Failure(field="CurrencyCode", row=n, constraint="Required."))
        elif raw.upper() not in CURRENCIES:
            sink.add(Failure(field="CurrencyCode", row=n, value=raw, constraint="Not an ISO 4217 currency code."))
        data["CurrencyCode"] = raw.upper()

        raw = cells[p_amount]
        if not raw:
            sink.add(Failure(field="OpportunityValue", row=n, constraint="Required."))
        elif why := parse_amount(raw):
            sink.add(Failure(field="OpportunityValue", row=n, value=raw, constraint=why))
        data["OpportunityValue"] = raw

        stage = cells[p_stage]
        if not stage:
            sink.add(Failure(field="PipelineStage", row=n, constraint="Required."))
        elif len(stage) > STAGE_MAX:
            sink.add(Failure(field="PipelineStage", row=n, value=stage, constraint=f"At most {STAGE_MAX} characters."))
        data["PipelineStage"] = stage

        email = cells[p_email]
        if email and (why := parse_email(email)):
            sink.add(Failure(field="EmailAddress", row=n, value=email, constraint=why))
        phone = raw_phone = cells[p_phone]
        if phone:
            phone_e164, why = parse_phone(phone, phone_region)
            if why:
                sink.add(Failure(field="PhoneNumber", row=n, value=phone, constraint=why))
            phone = phone_e164
        raid, payload = cells[p_raid], cells[p_payload]
        for column, value in (("RaId", raid), ("PayloadValue", payload)):
            if len(value) > TEXT_MAX:
                sink.add(Failure(field=column, row=n, value=value, constraint=f"At most {TEXT_MAX} characters."))
        if not (email or raw_phone or raid or payload):
            sink.add(
                Failure(
                    field="identifier", row=n, constraint="At least one of " + ", ".join(IDENTIFIERS) + " is required."
                )
            )
        data.update(
            EmailAddress=email or None, PhoneNumber=phone or None, RaId=raid or None, PayloadValue=payload or None
        )

        labels: list[str] = []
        for i in labels_at:
            label = cells[i]
            if not label:
                continue
            if len(label) > TEXT_MAX:
                sink.add(Failure(field="Label", row=n, value=label, constraint=f"At most {TEXT_MAX} characters."))
            elif label not in labels:
                labels.append(label)
        data["Label"] = labels

        raw = cells[p_props]
        properties: dict[str, str] = {}
        if raw:
            parsed, why = parse_properties(raw)
            if why:
                sink.add(Failure(field="AdditionalDataProperties", row=n, value=raw, constraint=why))
            properties = parsed or {}
        data["AdditionalDataProperties"] = properties

        for column, i in p_external:
            value = cells[i].strip()
            if len(value) > TEXT_MAX:
                sink.add(Failure(field=column, row=n, value=value, constraint=f"At most {TEXT_MAX} characters."))
            elif value:
                data[column] = value

        reference = cells[p_ref]
        if len(reference) > TEXT_MAX:
            sink.add(Failure(field="Reference", row=n, value=reference, constraint=f"At most {TEXT_MAX} characters."))
        if reference:
            data["Reference"] = reference
            data["Name"] = reference
        else:
            data["Reference"] = f"batch-{job_id}-{n}"
            data["_generated"] = True
            data["Name"] = f"{stage} {data['OpportunityValue']} {data['CurrencyCode']}"

        if sink.total != errors:
            continue
        key = stage.lower()
        if key not in result.stages:
            if len(result.stages) >= MAX_NEW_STAGES:
                sink.add(
                    Failure(
                        field="PipelineStage",
                        row=n,
                        value=stage,
                        constraint=f"A file may name at most {MAX_NEW_STAGES} different stages.",
                    )
                )
                continue
            result.stages[key] = stage
        yield data


def _file_failure(exc: Exception, row: int) -> Failure:
    where = f" (at or near data row {row})" if row else ""
    if isinstance(exc, UnicodeDecodeError):
        return Failure(field="file", constraint=f"The file must be UTF-8 encoded CSV{where}.")
    return Failure(field="file", constraint=f"Not a readable CSV file{where}: {exc}.")
