"""A bad-input corpus over every door and route: one table of cases (method, path, headers, body,
expected status, error `code`, named field and row), each answered as expected, in JSON, and
leaving every stored table exactly as it was (a fingerprint of the tables before and after).

One site and its data (definitions, staged rows, a finished sync with logs and rejects,
opportunities, contacts, accounts, stages, tags, owners, pipelines, a batch job, an OAuth client)
are committed once for the module and shared by every case. Each case runs in a transaction rolled
back afterwards (a write it made is seen by the fingerprint, on the same connection, and then
undone); the module flushes the test database at the end, as transactional tests do.

Gunicorn's own refusals (URL and header sizes, malformed request lines, chunked bodies) need a real
server: tests/hardening/test_framing.py.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import OPPORTUNITY_FIELDS, AccountFactory, ContactFactory, OpportunityContactFactory

NUL = "\x00"
SURROGATE = "\ud800"
DEEP = b"[" * 100_000 + b"]" * 100_000
B = "/api/bulk/2.0"
V1 = "/api/v1"
TOKEN = "corpus-token-0123456789"
PASSWORD = "corpus-password"


@dataclass(frozen=True)
class Case:
    """One bad input. `path` may name the module's data: {site}, {opp_def}, {sync}, {opp}, ..."""

    name: str
    method: str
    path: str
    status: int
    code: str | None = None  # the error body's `code`; None: the answer is not an error body
    field: str | None = None  # a failure names this field
    row: int | None = None  # ... in this row
    body: bytes | str | dict | list | None = None
    content_type: str = "application/json"
    headers: dict = dataclasses.field(default_factory=dict)
    auth: bool = True  # send the site's API token

    def __str__(self) -> str:
        return self.name


def js(value) -> bytes:
    """JSON as a client writes it: `\\u0000` and `\\ud800` escapes for NUL and surrogates."""
    return json.dumps(value).encode()


def basic(login: str, password: str) -> dict:
    raw = f"{login}:{password}".encode("utf-8", "surrogatepass")
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(raw).decode()}


def nested(depth: int) -> dict:
    value: dict | list = []
    for _ in range(depth):
        value = [value]
    return {"x": value}


CSV = "text/csv"
FORM = "application/x-www-form-urlencoded"
VALIDATION = "validation_error"

# --- the table ----------------------------------------------------------------------------------

# List routes, with what they take: paging (limit and offset bounded: True; limit only: "limit") and
# Eloqua `q`. The contact lists' paging takes any offset (past the end it is an empty page).
LIST_ROUTES = [
    (f"{B}/opportunities/fields", True, True),
    (f"{B}/contacts/fields", True, True),
    (f"{B}/accounts/fields", True, True),
    (f"{B}/opportunities/imports", True, True),
    (f"{B}/contacts/imports", True, True),
    (f"{B}/accounts/imports", True, True),
    (f"{B}/opportunities/contacts/imports", True, True),
    (f"{B}/syncs", True, True),
    (f"{B}/syncs/{{sync}}/logs", True, False),
    (f"{B}/syncs/{{sync}}/rejects", True, False),
    (f"{V1}/opportunities", True, True),
    (f"{V1}/contacts", "limit", False),
    (f"{V1}/accounts", "limit", False),
    (f"{V1}/contacts/{{contact}}/opportunities", "limit", False),
    (f"{V1}/accounts/{{account}}/opportunities", "limit", False),
    (f"{V1}/opportunities/{{opp}}/contacts", False, False),
    (f"{V1}/stages", False, False),
    (f"{V1}/tags", False, False),
    (f"{V1}/owners", False, False),
    (f"{V1}/pipelines", False, False),
    (f"{V1}/{{site}}/batch", True, True),
]

DETAIL_ROUTES = [
    f"{B}/opportunities/fields/{{id}}",
    f"{B}/contacts/fields/{{id}}",
    f"{B}/opportunities/imports/{{id}}",
    f"{B}/accounts/imports/{{id}}/data",
    f"{B}/opportunities/contacts/imports/{{id}}",
    f"{B}/syncs/{{id}}",
    f"{B}/syncs/{{id}}/logs",
    f"{B}/syncs/{{id}}/rejects",
    f"{V1}/stages/{{id}}",
    f"{V1}/tags/{{id}}",
    f"{V1}/owners/{{id}}",
    f"{V1}/pipelines/{{id}}",
    f"{V1}/{{id}}/batch",
]

UUID_ROUTES = [
    f"{V1}/opportunities/{{id}}",
    f"{V1}/contacts/{{id}}",
    f"{V1}/accounts/{{id}}/opportunities",
    f"{V1}/opportunities/{{id}}/contacts",
    f"{V1}/{{site}}/batch/{{id}}/status",
    f"{V1}/{{site}}/batch/{{id}}/errors.csv",
]

DEFINITION = {"name": "Corpus import", "fields": OPPORTUNITY_FIELDS, "identifierFieldName": "OpportunityID"}

# Write routes taking a JSON object: (method, path, a valid body, a string property of it).
WRITE_ROUTES = [
    ("POST", f"{B}/opportunities/imports", DEFINITION, "name"),
    ("PUT", f"{B}/opportunities/imports/{{opp_def}}", DEFINITION, "name"),
    (
        "POST",
        f"{B}/contacts/imports",
        {"name": "c", "fields": {"Email": "{{Contact.Field(C_EmailAddress)}}"}, "identifierFieldName": "Email"},
        "name",
    ),
    (
        "PUT",
        f"{B}/accounts/imports/{{account_def}}",
        {"name": "a", "fields": {"Id": "{{Account.Field(CompanyIDExt)}}"}, "identifierFieldName": "Id"},
        "identifierFieldName",
    ),
    (
        "POST",
        f"{B}/opportunities/contacts/imports",
        {
            "name": "l",
            "fields": {"E": "{{Opportunity.Contact.Field(C_EmailAddress)}}", "O": "{{Opportunity.Id}}"},
        },
        "name",
    ),
    ("POST", f"{B}/syncs", {"syncedInstanceUri": "/opportunities/imports/{opp_def}"}, "callbackUrl"),
    ("POST", f"{V1}/opportunities", {"name": "REST deal", "companyId": None}, "name"),
    ("PATCH", f"{V1}/opportunities/{{opp}}", {"name": "Renamed"}, "name"),
    ("POST", f"{V1}/stages", {"name": "New stage", "probability": 0.5}, "name"),
    ("PATCH", f"{V1}/stages/{{stage}}", {"name": "Renamed stage"}, "name"),
    ("POST", f"{V1}/tags", {"name": "new tag"}, "name"),
    ("PATCH", f"{V1}/tags/{{tag}}", {"name": "renamed tag"}, "name"),
    ("POST", f"{V1}/owners", {"name": "Owner"}, "name"),
    ("PATCH", f"{V1}/owners/{{owner}}", {"name": "Owner 2"}, "name"),
    ("POST", f"{V1}/pipelines", {"externalId": "p-new", "label": "P"}, "label"),
    ("PATCH", f"{V1}/pipelines/{{pipeline}}", {"label": "P2"}, "label"),
    ("POST", f"{V1}/contacts", {"email": "new.person@example.com"}, "firstName"),
    ("PATCH", f"{V1}/contacts/{{contact}}", {"firstName": "Ann"}, "firstName"),
    ("POST", f"{V1}/accounts", {"name": "New account"}, "name"),
    ("PATCH", f"{V1}/accounts/{{account}}", {"name": "Renamed account"}, "city"),
]

DATA_ROUTES = [
    f"{B}/opportunities/imports/{{opp_def}}/data",
    f"{B}/contacts/imports/{{contact_def}}/data",
    f"{B}/accounts/imports/{{account_def}}/data",
    f"{B}/opportunities/contacts/imports/{{link_def}}/data",
]


def _list_cases() -> list[Case]:
    cases = []
    for path, paged, has_q in LIST_ROUTES:
        short = path.replace(B, "B").replace(V1, "V1")
        cases += [
            Case(f"{short}: NUL in a parameter", "GET", path + "?limit=1%00", 400, VALIDATION, "limit"),
            Case(f"{short}: NUL in a parameter name", "GET", path + "?a%00b=1", 400, VALIDATION, "query"),
            Case(f"{short}: NUL in q", "GET", path + "?q=name%3Da%00b", 400, VALIDATION, "q"),
            Case(f"{short}: 2,500-character parameter", "GET", path + "?q=" + "a" * 2500, 400, VALIDATION, "q"),
            Case(
                f"{short}: 1,001 parameters",
                "GET",
                path + "?" + "&".join(f"p{i}=1" for i in range(1001)),
                400,
                "too_many_fields",
            ),
        ]
        if paged is True:
            cases.append(
                Case(f"{short}: 50-digit offset", "GET", path + "?offset=" + "9" * 50, 400, VALIDATION, "offset")
            )
        if paged:
            cases += [
                Case(f"{short}: 1,990-digit limit", "GET", path + "?limit=" + "9" * 1990, 400, VALIDATION, "limit"),
                Case(f"{short}: negative offset", "GET", path + "?offset=-1", 400, VALIDATION, "offset"),
            ]
        if has_q:
            cases += [
                Case(f"{short}: unknown q term", "GET", path + "?q=" + quote("nope=1"), 400, VALIDATION, "q"),
            ]
    return cases


def _q_cases() -> list[Case]:
    """Typed `q` terms and filters: dates with offsets, numbers, on the lists that take them."""
    cases = []
    for path, term in (
        (f"{B}/opportunities/imports", "createdAt"),
        (f"{B}/syncs", "syncStartedAt"),
        (f"{V1}/opportunities", "modifiedAt"),
        (f"{V1}/{{site}}/batch", "createdOn"),
    ):
        for value, why in (
            ("2024-01-01T00:00:00+25:00", "offset +25:00"),
            ("2024-01-01T00:00:00+16:00", "offset +16:00"),
            ("2024-01-01T00:00:00-23:59", "offset -23:59"),
            ("9999-12-31T23:00:00-05:00", "past year 9999 in UTC"),
            ("0000-01-01T00:00:00Z", "year 0"),
            ("2024-13-01", "month 13"),
            ("2024-01-01T00:00:00" + "0" * 100, "long"),
        ):
            q = quote(f"{term}>{value}")
            cases.append(Case(f"q {path} {why}", "GET", f"{path}?q={q}", 400, VALIDATION, "q"))
    for value in ("abc", "9" * 41, "1e999999", "NaN", "Infinity"):
        q = quote(f"amount>{value}")
        cases.append(Case(f"q amount {value[:10]}", "GET", f"{V1}/opportunities?q={q}", 400, VALIDATION, "q"))
    cases.append(Case("q closeDate garbage", "GET", f"{V1}/opportunities?q=closeDate%3Eabc", 400, VALIDATION, "q"))
    for path, param in (
        (f"{V1}/opportunities", "modifiedSince"),
        (f"{V1}/contacts", "updatedSince"),
        (f"{V1}/accounts", "updatedSince"),
    ):
        for value in ("2024-01-01T00:00:00+20:00", "2024-01-01T00:00:00-16:30", "9999-12-31T23:59:59-15:00"):
            name = f"{path} {param} {value}"
            cases.append(Case(name, "GET", f"{path}?{param}={quote(value)}", 400, VALIDATION, param))
    cases += [
        Case("opportunity filter NUL", "GET", f"{V1}/opportunities?externalId=a%00", 400, VALIDATION, "externalId"),
        Case("contact filter NUL", "GET", f"{V1}/contacts?email=a%00", 400, VALIDATION, "email"),
        Case("account domain NUL", "GET", f"{V1}/accounts?domain=a%00", 400, VALIDATION, "domain"),
        Case("sort by NUL", "GET", f"{B}/syncs?orderBy=status%00", 400, VALIDATION, "orderBy"),
        Case("sort unknown", "GET", f"{B}/syncs?orderBy=bogus", 400, VALIDATION, "orderBy"),
        Case("fields q NUL", "GET", f"{B}/opportunities/fields?q=name%3Da%00", 400, VALIDATION, "q"),
    ]
    return cases


def _path_cases() -> list[Case]:
    cases = []
    for route in DETAIL_ROUTES:
        short = route.replace(B, "B").replace(V1, "V1")
        for value, why in (("9" * 4000, "4,000 digits"), ("9" * 19, "19 digits"), ("-1", "negative")):
            cases.append(Case(f"{short} id {why}", "GET", route.replace("{id}", value), 404, "not_found"))
        cases.append(Case(f"{short} id NUL", "GET", route.replace("{id}", "1%00"), 400, VALIDATION, "path"))
    for route in UUID_ROUTES:
        short = route.replace(B, "B").replace(V1, "V1")
        cases.append(Case(f"{short} not a uuid", "GET", route.replace("{id}", "not-a-uuid"), 404, "not_found"))
        cases.append(Case(f"{short} NUL", "GET", route.replace("{id}", "%00"), 400, VALIDATION, "path"))
    cases.append(Case("unknown route", "GET", "/nothing/here", 404, "not_found"))
    cases.append(Case("unknown route with NUL", "GET", "/nothing%00here", 400, VALIDATION, "path"))
    return cases


def _write_cases() -> list[Case]:
    cases = []
    for method, path, valid, text in WRITE_ROUTES:
        short = f"{method} {path.replace(B, 'B').replace(V1, 'V1')}"
        cases += [
            Case(f"{short}: NUL in {text}", method, path, 400, VALIDATION, text, body=js({**valid, text: "a" + NUL})),
            Case(
                f"{short}: surrogate in {text}",
                method,
                path,
                400,
                VALIDATION,
                text,
                body=js({**valid, text: "a" + SURROGATE}),
            ),
            Case(
                f"{short}: NUL in a key",
                method,
                path,
                400,
                VALIDATION,
                "ke\x00y",
                body=js({**valid, "ke" + NUL + "y": 1}),
            ),
            Case(f"{short}: 100,000 deep", method, path, 400, VALIDATION, "body", body=DEEP),
            Case(
                f"{short}: 40 deep", method, path, 400, VALIDATION, "x" + "[0]" * 31, body=js({**valid, **nested(40)})
            ),
            Case(
                f"{short}: 5,000-digit number",
                method,
                path,
                400,
                VALIDATION,
                "n",
                body=js(valid)[:-1] + b', "n": ' + b"1" * 5000 + b"}",
            ),
            Case(f"{short}: 1e400", method, path, 400, VALIDATION, "n", body=js(valid)[:-1] + b', "n": 1e400}'),
            Case(f"{short}: NaN", method, path, 400, "parse_error", body=js(valid)[:-1] + b', "n": NaN}'),
            Case(f"{short}: invalid JSON", method, path, 400, "parse_error", body=b'{"name": '),
            Case(f"{short}: not UTF-8", method, path, 400, "parse_error", body=b'{"name": "caf\xe9"}'),
            Case(
                f"{short}: body over 2 MiB",
                method,
                path,
                413,
                "payload_too_large",
                "body",
                body=js({**valid, "pad": "x" * (2 * 1024 * 1024)}),
            ),
        ]
        if path.startswith(V1):  # the /api/v1 writes take JSON only: any form is a 415, never read
            cases += [
                Case(f"{short}: a form body", method, path, 415, "unsupported_media_type",
                     body=f"{text}=a%00", content_type=FORM),
                Case(f"{short}: 1,001 form fields", method, path, 415, "unsupported_media_type",
                     body="&".join(f"f{i}=1" for i in range(1001)), content_type=FORM),
            ]  # fmt: skip
            continue
        cases += [
            Case(
                f"{short}: 1,001 form fields",
                method,
                path,
                400,
                "too_many_fields",
                body="&".join(f"f{i}=1" for i in range(1001)),
                content_type=FORM,
            ),
            Case(
                f"{short}: NUL in a form field",
                method,
                path,
                400,
                VALIDATION,
                text,
                body=f"{text}=a%00",
                content_type=FORM,
            ),
        ]
    return cases


def _definition_cases() -> list[Case]:
    path = f"{B}/opportunities/imports"

    def bad(name: str, change: dict, named: str, status: int = 400, code: str = VALIDATION) -> Case:
        return Case(f"definition {name}", "POST", path, status, code, named, body=js({**DEFINITION, **change}))

    return [
        bad("huge autoDeleteDuration", {"autoDeleteDuration": "P" + "9" * 30 + "D"}, "autoDeleteDuration"),
        bad("autoDeleteDuration past 10 years", {"autoDeleteDuration": "P99999999D"}, "autoDeleteDuration"),
        bad(
            "autoDeleteDuration over 40 characters",
            {"autoDeleteDuration": "P000000001W000000001DT000000001H000000001M"},
            "autoDeleteDuration",
        ),
        bad("huge dataRetentionDuration", {"dataRetentionDuration": "PT" + "9" * 3000 + "S"}, "dataRetentionDuration"),
        bad("dataRetentionDuration with a newline", {"dataRetentionDuration": "P7D\n"}, "dataRetentionDuration"),
        bad("externalSystemId past bigint", {"externalSystemId": 2**63}, "externalSystemId"),
        bad("externalSystemId below bigint", {"externalSystemId": -(2**63) - 1}, "externalSystemId"),
        bad("externalSystemId 39 digits", {"externalSystemId": "9" * 39}, "externalSystemId"),
        bad("externalSystemId boolean", {"externalSystemId": True}, "externalSystemId"),
        bad("externalSystemId float", {"externalSystemId": 1.5}, "externalSystemId"),
        bad(
            "updateRuleByField bad rule",
            {"updateRule": "useFieldRule", "updateRuleByField": {"Amount": "nope"}},
            "updateRuleByField.Amount",
        ),
        bad(
            "updateRuleByField unknown key",
            {"updateRule": "useFieldRule", "updateRuleByField": {"Nope": "always"}},
            "updateRuleByField.Nope",
        ),
        bad("updateRuleByField a list", {"updateRuleByField": ["always"]}, "updateRuleByField"),
        bad(
            "updateRuleByField 101 keys",
            {"updateRuleByField": {f"k{i}": "always" for i in range(101)}},
            "updateRuleByField",
        ),
        bad("101 fields", {"fields": {f"k{i}": "{{Opportunity.Field(Name)}}" for i in range(101)}}, "fields"),
        bad(
            "field name of 101 characters",
            {"fields": {**OPPORTUNITY_FIELDS, "k" * 101: "{{Opportunity.Field(Territory)}}"}},
            "fields." + "k" * 101,
        ),
        bad("empty field name", {"fields": {**OPPORTUNITY_FIELDS, "": "{{Opportunity.Field(Territory)}}"}}, "fields."),
        bad("statement a number", {"fields": {**OPPORTUNITY_FIELDS, "Territory": 5}}, "fields.Territory"),
        bad(
            "statement 10,000 characters",
            {"fields": {**OPPORTUNITY_FIELDS, "Territory": "{{" + "x" * 10000 + "}}"}},
            "fields.Territory",
        ),
        bad("name of 101 characters", {"name": "n" * 101}, "name"),
        bad("name a list", {"name": ["x"]}, "name"),
        bad("fields a list", {"fields": [["a", "b"]]}, "fields"),
        bad("identifierFieldName NUL", {"identifierFieldName": "Opp" + NUL}, "identifierFieldName"),
        bad("isSyncTriggeredOnImport maybe", {"isSyncTriggeredOnImport": "maybe"}, "isSyncTriggeredOnImport"),
        bad("importPriorityUri long", {"importPriorityUri": "/imports/priorities/" + "1" * 5000}, "importPriorityUri"),
        Case("definition body a list", "POST", path, 400, VALIDATION, "body", body=js([DEFINITION])),
        Case("definition body a string", "POST", path, 400, VALIDATION, "body", body=js("x")),
    ]


def _sync_cases() -> list[Case]:
    path = f"{B}/syncs"

    def bad(name: str, body, named: str) -> Case:
        return Case(f"sync {name}", "POST", path, 400, VALIDATION, named, body=js(body))

    uri = "/opportunities/imports/{opp_def}"
    return [
        bad(
            "uri with a 5,000-digit id",
            {"syncedInstanceUri": "/opportunities/imports/" + "9" * 5000},
            "syncedInstanceUri",
        ),
        bad("uri with a 19-digit id", {"syncedInstanceUri": "/opportunities/imports/" + "9" * 19}, "syncedInstanceUri"),
        bad("uri a number", {"syncedInstanceUri": 5}, "syncedInstanceUri"),
        bad("uri another site's id", {"syncedInstanceUri": "/opportunities/imports/0"}, "syncedInstanceUri"),
        bad(
            "callbackUrl over 2,000 characters",
            {"syncedInstanceUri": uri, "callbackUrl": "https://example.com/" + "a" * 2000},
            "callbackUrl",
        ),
        bad(
            "callbackUrl with a 3,000-character host",
            {"syncedInstanceUri": uri, "callbackUrl": "https://" + "a" * 1900 + ".com/"},
            "callbackUrl",
        ),
        bad("callbackUrl broken IPv6", {"syncedInstanceUri": uri, "callbackUrl": "http://[::1/x"}, "callbackUrl"),
        bad("callbackUrl not http", {"syncedInstanceUri": uri, "callbackUrl": "ftp://example.com/"}, "callbackUrl"),
        bad("callbackUrl a list", {"syncedInstanceUri": uri, "callbackUrl": ["x"]}, "callbackUrl"),
        bad("body a list", [{"syncedInstanceUri": uri}], "body"),
    ]


def _upload_cases() -> list[Case]:
    cases = []
    for path in DATA_ROUTES:
        short = path.replace(B, "B").split("/data")[0]
        cases += [
            Case(f"{short} JSON NUL", "POST", path, 400, VALIDATION, "OpportunityID", 2,
                 body=js([{"OpportunityID": "1"}, {"OpportunityID": "a" + NUL}])),
            Case(f"{short} JSON surrogate", "POST", path, 400, VALIDATION, "OpportunityID", 1,
                 body=js([{"OpportunityID": "a" + SURROGATE}])),
            Case(f"{short} JSON NUL key", "POST", path, 400, VALIDATION, "body", 1, body=js([{"k" + NUL: "1"}])),
            Case(f"{short} JSON surrogate key", "POST", path, 400, VALIDATION, None, 1, body=js([{"k" + SURROGATE: "1"}])),
            Case(f"{short} JSON 100,000 deep", "POST", path, 400, VALIDATION, "body", 1, body=b"[" + DEEP + b"]"),
            Case(f"{short} JSON nested in a row", "POST", path, 400, VALIDATION, "OpportunityID", 1,
                 body=b'[{"OpportunityID": ' + DEEP + b"}]"),
            Case(f"{short} JSON 5,000-digit number", "POST", path, 400, VALIDATION, "body",
                 body=b'[{"OpportunityID": ' + b"1" * 5000 + b"}]"),
            Case(f"{short} JSON 5,000 digits in a string", "POST", path, 400, VALIDATION, "OpportunityID", 1,
                 body=b'[{"OpportunityID": "' + b"1" * 5000 + b'"}]'),
            Case(f"{short} JSON huge exponent", "POST", path, 400, VALIDATION, "body",
                 body=b'[{"OpportunityID": 1e99999999999999999999}]'),
            Case(f"{short} JSON not UTF-8", "POST", path, 400, VALIDATION, "OpportunityID", 1,
                 body=b'[{"OpportunityID": "caf\xe9"}]'),
            Case(f"{short} JSON 1,001 keys", "POST", path, 400, VALIDATION, None, 1,
                 body=js([{f"k{i}": "1" for i in range(1001)}])),
            Case(f"{short} JSON an object", "POST", path, 400, VALIDATION, "body", body=js({"OpportunityID": "1"})),
            Case(f"{short} JSON element a number", "POST", path, 400, VALIDATION, "body", 2, body=b'[{"a": "1"}, 5]'),
            Case(f"{short} JSON trailing garbage", "POST", path, 400, VALIDATION, "body", body=b'[{"a": "1"}] x'),
            Case(f"{short} JSON truncated", "POST", path, 400, VALIDATION, "body", body=b'[{"a": "1"}, {"a": '),
            Case(f"{short} JSON row over 1 MiB", "POST", path, 400, VALIDATION, "body", 2,
                 body=js([{"OpportunityID": "1"}, {"OpportunityID": "\\" * (700 * 1024)}])),
            Case(f"{short} CSV NUL", "POST", path, 400, VALIDATION, "OpportunityName", 2,
                 body=b"OpportunityID,OpportunityName\n1,a\n2,b\x00c\n", content_type=CSV),
            Case(f"{short} CSV not UTF-8", "POST", path, 400, VALIDATION, "OpportunityName", 3,
                 body=b"OpportunityID,OpportunityName\n1,a\n2,b\n3,\xed\xa0\x80\n", content_type=CSV),
            Case(f"{short} CSV header not UTF-8", "POST", path, 400, VALIDATION, "header",
                 body=b"Opp\xff\n1\n", content_type=CSV),
            Case(f"{short} CSV duplicate header", "POST", path, 400, VALIDATION, "OpportunityID",
                 body=b"OpportunityID,Amount,OpportunityID\n1,2,3\n", content_type=CSV),
            Case(f"{short} CSV NUL in header", "POST", path, 400, VALIDATION, "header[2]",
                 body=b"OpportunityID,Amo\x00unt\n1,2\n", content_type=CSV),
            Case(f"{short} CSV 1,001 columns", "POST", path, 400, VALIDATION, "header",
                 body=(",".join(f"c{i}" for i in range(1001)) + "\n").encode(), content_type=CSV),
            Case(f"{short} CSV ragged", "POST", path, 400, VALIDATION, "body",
                 body=b"OpportunityID,OpportunityName\n1,a\n2,b,c\n", content_type=CSV),
            Case(f"{short} CSV unterminated quote", "POST", path, 400, VALIDATION, "body",
                 body=b'OpportunityID,OpportunityName\n1,"a\n', content_type=CSV),
            Case(f"{short} CSV empty", "POST", path, 400, VALIDATION, "body", body=b"", content_type=CSV),
            Case(f"{short} CSV row too large", "POST", path, 400, VALIDATION, "body", content_type=CSV,
                 body=(",".join(f"c{i}" for i in range(600)) + "\n" + ",".join("x" * 3000 for _ in range(600)) + "\n").encode()),
            Case(f"{short} XML", "POST", path, 415, "unsupported_media_type", body=b"<rows/>", content_type="application/xml"),
        ]  # fmt: skip
    return cases


def _auth_cases() -> list[Case]:
    cases = []
    for path, status, code in ((f"{B}/syncs", 401, "authentication_failed"), ("/id", 200, None)):
        for name, headers in (
            ("NUL in the user name", basic("Corpus\\corpus.u" + NUL + "ser", PASSWORD)),
            ("NUL in the password", basic("Corpus\\corpus.user", "pass" + NUL)),
            ("NUL in the site", basic("Cor" + NUL + "pus\\corpus.user", PASSWORD)),
            ("surrogate in the user name", basic("Corpus\\corpus." + SURROGATE, PASSWORD)),
            ("a 5,000-character user name", basic("Corpus\\" + "u" * 5000, PASSWORD)),
            ("a 5,000-character password", basic("Corpus\\corpus.user", "p" * 5000)),
            ("not base64", {"HTTP_AUTHORIZATION": "Basic !!!"}),
            ("non-ASCII base64", {"HTTP_AUTHORIZATION": "Basic é"}),
            ("not UTF-8", {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"\xff:\xfe").decode()}),
            ("NUL in a token", {"HTTP_AUTHORIZATION": "Bearer abc" + NUL}),
            ("a 5,000-character token", {"HTTP_AUTHORIZATION": "Bearer " + "t" * 5000}),
            ("NUL in X-Api-Key", {"HTTP_X_API_KEY": "abc" + NUL}),
        ):
            cases.append(Case(f"{path} {name}", "GET", path, status, code, headers=headers, auth=False))
    return cases


def _oauth_cases() -> list[Case]:
    path = "/auth/oauth2/token"
    good = {"grant_type": "password", "username": "Corpus\\corpus.user", "password": PASSWORD,
            "client_id": "corpus-client", "client_secret": "corpus-secret"}  # fmt: skip
    cases = []
    for key in ("username", "password", "client_id", "client_secret", "grant_type"):
        form = "&".join(f"{k}={quote(v)}" for k, v in {**good, key: "x\x00y"}.items())
        cases.append(
            Case(
                f"oauth form NUL in {key}", "POST", path, 400, VALIDATION, key, body=form, content_type=FORM, auth=False
            )
        )
        cases.append(
            Case(
                f"oauth JSON NUL in {key}",
                "POST",
                path,
                400,
                VALIDATION,
                key,
                body=js({**good, key: "x\x00y"}),
                auth=False,
            )
        )
        cases.append(
            Case(
                f"oauth JSON surrogate in {key}",
                "POST",
                path,
                400,
                VALIDATION,
                key,
                body=js({**good, key: SURROGATE}),
                auth=False,
            )
        )
    cases += [
        Case("oauth client Basic with NUL", "POST", path, 400, VALIDATION, "Authorization", auth=False,
             body="grant_type=password&username=a&password=b", content_type=FORM, headers=basic("corpus" + NUL, "x")),
        Case("oauth JSON 100,000 deep", "POST", path, 400, VALIDATION, "body", body=DEEP, auth=False),
        Case("oauth 1,001 form fields", "POST", path, 400, "too_many_fields", auth=False,
             body="&".join(f"f{i}=1" for i in range(1001)), content_type=FORM),
        Case("oauth body over 2 MiB", "POST", path, 413, "payload_too_large", auth=False,
             body="grant_type=password&pad=" + "x" * (2 * 1024 * 1024), content_type=FORM),
        Case("oauth NUL in a form field name", "POST", path, 400, VALIDATION, "body", auth=False,
             body="gra%00nt=1", content_type=FORM),
    ]  # fmt: skip
    return cases


def _deal_cases() -> list[Case]:
    path = f"{V1}/deals"
    deal = {"externalDealId": "corpus-deal", "name": "Deal"}
    cases = [
        Case("deals NUL beside the deals", "POST", path, 400, VALIDATION, "x" + NUL,
             body=js({"deals": [deal], "x" + NUL: 1})),
        Case("deals 101", "POST", path, 400, VALIDATION, "deals", body=js({"deals": [deal] * 101})),
        Case("deals none", "POST", path, 400, VALIDATION, "deals", body=js({"deals": []})),
        Case("deals 100,000 deep", "POST", path, 400, VALIDATION, "body", body=DEEP),
        # The shared bounds inside a deal fail that deal alone (the document answers 200 per deal).
        Case("deal amount 1e400", "POST", path, 200,
             body=b'{"deals": [{"externalDealId": "x", "name": "y", "amount": 1e400}]}'),
    ]  # fmt: skip
    # Refused per deal: 200 with the deal failed, and nothing written.
    for key, value in (
        ("externalDealId", "d" + NUL),
        ("name", "n" + NUL),
        ("associatedAccounts", [{"name": SURROGATE}]),
        ("startDate", "2024-01-01T00:00:00+25:00"),
        ("startDate", "2024-01-01T00:00:00+16:00"),
        ("closedDate", "9999-12-31T23:00:00-05:00"),
        ("closedDate", "2024-02-30"),
        ("amount", "9" * 5000),
        ("amount", "1e999999"),
        ("dealCurrencyCode", "EURO"),
        ("name", "n" * 256),
        ("ownerEmail", "x" * 300 + "@example.com"),
        ("associatedAccounts", [{"domain": "d" * 300}]),
    ):
        cases.append(
            Case(f"deal {key} {str(value)[:30]}", "POST", path, 200, body=js({"deals": [{**deal, key: value}]}))
        )
    return cases


def _batch_cases() -> list[Case]:
    path = f"{V1}/{{site}}/opportunity/upload/batch"
    header = b"OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,EmailAddress\r\n"
    row = b"2024-01-01T00:00:00Z,USD,10,Prospecting,a@example.com\r\n"

    def multipart(*parts: tuple[str, bytes], extra: bytes = b"") -> bytes:
        out = b""
        for name, content in parts:
            out += (f'--XyZ\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.csv"\r\n'
                    "Content-Type: text/csv\r\n\r\n").encode() + content + b"\r\n"  # fmt: skip
        return out + extra + b"--XyZ--\r\n"

    mp = "multipart/form-data; boundary=XyZ"
    return [
        Case("batch two file parts", "POST", path, 400, VALIDATION, "file", content_type=mp,
             body=multipart(("file", header + row), ("file", header + row))),
        Case("batch file and another part", "POST", path, 400, VALIDATION, "file", content_type=mp,
             body=multipart(("file", header + row), ("other", header + row))),
        Case("batch NUL in a cell", "POST", path, 400, "invalid_batch", "EmailAddress", 2, content_type=mp,
             body=multipart(("file", header + row + row.replace(b"a@", b"a\x00@")))),
        Case("batch not UTF-8", "POST", path, 400, "invalid_batch", "file", content_type=mp,
             body=multipart(("file", header + row.replace(b"Prospecting", b"Prosp\xe9cting")))),
        Case("batch no file", "POST", path, 400, VALIDATION, "file", content_type=mp, body=multipart()),
        Case("batch 11 files", "POST", path, 400, "too_many_files", content_type=mp,
             body=multipart(*[(f"f{i}", row) for i in range(11)])),
        Case("batch NUL in a field name", "POST", path, 400, VALIDATION, "body", content_type=mp,
             body=multipart(extra=b'--XyZ\r\nContent-Disposition: form-data; name="a\x00"\r\n\r\nx\r\n')),
        Case("batch no boundary", "POST", path, 400, "parse_error", content_type="multipart/form-data", body=b"x"),
        Case("batch offset +25:00", "POST", path, 400, "invalid_batch", "OpportunityDateTime", 1, content_type=mp,
             body=multipart(("file", header + row.replace(b"00Z", b"00+25:00")))),
        Case("batch another site", "POST", f"{V1}/0/opportunity/upload/batch", 404, "not_found", content_type=mp,
             body=multipart(("file", header + row))),
        Case("batch huge site id", "POST", f"{V1}/{'9' * 3000}/opportunity/upload/batch", 404, "not_found",
             content_type=mp, body=multipart(("file", header + row))),
    ]  # fmt: skip


def _misc_cases() -> list[Case]:
    return [
        Case("Host not served", "GET", f"{B}/syncs", 400, "disallowed_host", "Host", headers={"HTTP_HOST": "evil.example"}),
        Case("X-Request-Id with NUL", "GET", f"{B}/syncs?limit=0", 400, VALIDATION, "limit", headers={"HTTP_X_REQUEST_ID": "a\x00"}),
        Case("method not allowed", "PATCH", f"{B}/opportunities/fields", 405, "method_not_allowed", body=js({})),
        Case("status override 9999", "GET", f"{B}/syncs?limit=0", 400, VALIDATION, "limit",
             headers={"HTTP_X_HTTP_STATUS_CODE_OVERRIDE": "9999"}),
        Case("delete data of another site's definition", "DELETE", f"{B}/opportunities/imports/0/data", 404, "not_found"),
        Case("health with NUL", "GET", "/health?x=%00", 400, VALIDATION, "x", auth=False),
        Case("upload with a Content-Length that is not a number", "POST", f"{B}/opportunities/imports/{{opp_def}}/data",
             400, VALIDATION, "body", body=b"[1]", headers={"CONTENT_LENGTH": "abc"}),
        Case("upload with a 30-digit Content-Length", "POST", f"{B}/opportunities/imports/{{opp_def}}/data",
             413, "payload_too_large", "body", body=b"[]", headers={"CONTENT_LENGTH": "9" * 30}),
        Case("schema with NUL", "GET", "/api/schema?format=%00", 400, VALIDATION, "format", auth=False),
    ]  # fmt: skip


CASES = [
    *_list_cases(),
    *_q_cases(),
    *_path_cases(),
    *_write_cases(),
    *_definition_cases(),
    *_sync_cases(),
    *_upload_cases(),
    *_auth_cases(),
    *_oauth_cases(),
    *_deal_cases(),
    *_batch_cases(),
    *_misc_cases(),
]


# --- the shared data ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """One site with something in every table the cases could touch; flushed afterwards."""
    with django_db_blocker.unblock():
        # The test database, never the one DATABASE_URL names (pytest-django sets one up only
        # for a session with a database test in it: this module's cases are marked so).
        assert connection.settings_dict["NAME"].startswith("test_"), connection.settings_dict["NAME"]
        try:
            yield _build_world()
        finally:
            call_command("flush", interactive=False, verbosity=0)


def _build_world() -> dict:
    import pycountry
    from oauth2_provider.models import Application

    from entities.opportunities.models import Opportunity, Owner, Pipeline, Stage, Tag
    from kernel.models import Currency
    from kernel.services import api_token_create, site_create, user_set
    from pipeline.models import Reject
    from tests.entities.linkage.helpers import link_definition
    from tests.hardening.helpers import define
    from tests.pipeline.helpers import run_sync, stage

    if not Currency.objects.exists():
        Currency.objects.bulk_create([Currency(code=c.alpha_3, name=c.name[:100]) for c in pycountry.currencies])
    site, _ = site_create(name="Corpus")
    user, _ = user_set(site=site, username="corpus.user", password=PASSWORD)
    api_token_create(user=user, raw=TOKEN)
    Application.objects.create(
        name="corpus",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_PASSWORD,
        client_id="corpus-client",
        client_secret="corpus-secret",
        user=user,
    )
    synced = define(site, "opportunity", OPPORTUNITY_FIELDS, "OpportunityID")
    rows = [
        {"OpportunityID": str(i), "OpportunityName": f"Deal {i}", "Amount": "10", "Stage": "Proposal"} for i in range(5)
    ]
    sync = run_sync(synced, [*rows, {"OpportunityID": "x", "Amount": "ten"}], user=user)
    assert sync.status == "warning" and Reject.objects.filter(sync=sync).exists()
    opp_def = define(site, "opportunity", OPPORTUNITY_FIELDS, "OpportunityID")
    stage(opp_def, rows)  # staged, not synced
    account = AccountFactory(site=site, name="Acme", external_id="ACC-1", domain="acme.com")
    contact = ContactFactory(site=site, email="ann@acme.com", account=account)
    opp = Opportunity.objects.filter(site=site).first()
    OpportunityContactFactory(site=site, opportunity=opp, contact=contact, sync_id=sync.pk)
    pipeline = Pipeline.objects.create(site=site, external_id="p-1", label="Sales")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    batch = b"OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,EmailAddress\r\n"
    batch += b"2024-01-01T00:00:00Z,USD,10,Prospecting,batch@example.com\r\n"
    from tests.doors.batch.helpers import csv_file

    job = client.post(f"/api/v1/{site.pk}/opportunity/upload/batch", {"file": csv_file(batch)}, format="multipart")
    assert job.status_code == 202, job.content
    return {
        "site": site.pk,
        "opp_def": opp_def.pk,
        "contact_def": define(site, "contact", {"Email": "{{Contact.Field(C_EmailAddress)}}"}, "Email").pk,
        "account_def": define(site, "account", {"Id": "{{Account.Field(CompanyIDExt)}}"}, "Id").pk,
        "link_def": link_definition(site).pk,
        "sync": sync.pk,
        "opp": str(opp.uuid),
        "contact": str(contact.uuid),
        "account": str(account.uuid),
        "stage": Stage.objects.filter(site=site).first().pk,
        "tag": Tag.objects.create(site=site, name="vip").pk,
        "owner": Owner.objects.create(site=site, name="Olive", external_id="o-1").pk,
        "pipeline": pipeline.pk,
        "job": job.json()["jobId"],
    }


_EXCLUDED = ("django_migrations", "django_content_type", "auth_permission", "bulkapi_currency")
# Columns a refused request may still move: when a token was last used.
_VOLATILE = ("last_used_at",)
_FINGERPRINT: list = []  # (table names, the statement), made once


def fingerprint() -> dict[str, str]:
    """Every stored table's content (each row as text, in order), hashed; one statement."""
    with connection.cursor() as cur:
        if not _FINGERPRINT:
            cur.execute(
                "SELECT table_name, string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)"
                " FROM information_schema.columns WHERE table_schema = 'public' AND column_name <> ALL(%s)"
                " GROUP BY table_name ORDER BY table_name",
                [list(_VOLATILE)],
            )
            tables = [(t, cols) for t, cols in cur.fetchall() if t not in _EXCLUDED]
            parts = [
                f"(SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) FROM"
                f' (SELECT ROW({cols}) AS r FROM "{t}") x)'
                for t, cols in tables
            ]
            _FINGERPRINT.extend([[t for t, _ in tables], "SELECT " + ", ".join(parts)])
        tables, statement = _FINGERPRINT
        cur.execute(statement)
        return dict(zip(tables, cur.fetchone(), strict=True))


_LAST_SEEN: list[dict] = []  # the fingerprint after the last case, the next one's "before"


def send(case: Case, world: dict):
    client = APIClient()
    headers = dict(case.headers)
    if case.auth and "HTTP_AUTHORIZATION" not in headers:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    path = case.path.format(**world) if "{" in case.path else case.path
    body = case.body
    if isinstance(body, dict | list):
        body = js(body)
    if isinstance(body, bytes) and b"{opp_def}" in body:
        body = body.replace(b"{opp_def}", str(world["opp_def"]).encode())
    return client.generic(case.method, path, body or b"", content_type=case.content_type, **headers)


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input_is_answered_and_changes_nothing(case: Case, world):
    # given: the tables as the previous case left them (each case leaves them unchanged)
    before = _LAST_SEEN.pop() if _LAST_SEEN else fingerprint()
    # when
    response = send(case, world)
    # then: the expected status, always JSON, and the failure named
    assert response.status_code == case.status, response.content[:600]
    assert "application/json" in response["Content-Type"], response["Content-Type"]
    body = response.json()
    if case.code is not None:
        assert body.get("code") == case.code, body
    if case.field is not None or case.row is not None:
        failures = body.get("failures", [])
        assert any(
            (case.field is None or f.get("field") == case.field) and (case.row is None or f.get("row") == case.row)
            for f in failures
        ), body
    if case.status == 200 and case.path.endswith("/deals"):
        assert body["summary"]["failed"] == 1, body
    # and nothing stored changed
    after = fingerprint()
    _LAST_SEEN.append(after)
    assert after == before


def test_the_corpus_is_large_and_names_every_door():
    assert len(CASES) >= 400
    assert len({c.name for c in CASES}) == len(CASES)
    for door in ("/auth/oauth2/token", "/id", "/deals", "/upload/batch", "/data", "/syncs", "/fields", "/api/v1/"):
        assert any(door in c.path for c in CASES), door
