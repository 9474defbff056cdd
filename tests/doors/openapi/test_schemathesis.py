"""schemathesis over /api/schema against the live server, with real credentials and real ids.

Every operation of the served schema is called, as the seeded site's user (tests/doors/openapi/seed.py):
first its explicit cases (each request example of the schema, bodies naming the seeded objects, and
the plain call, all on the seeded objects' ids), then requests schemathesis generates from the
schema (valid ones and invalid ones, on the seeded ids, and some on generated ids). Every answer is
checked: no 5xx (`not_a_server_error`), a body as documented (`response_schema_conformance`), a
documented status, content type and headers.

SCHEMATHESIS_MAX_EXAMPLES (default 6) is the generated requests' budget per operation;
SCHEMATHESIS_SEED replays a run; SCHEMATHESIS_OPERATIONS (a regex on "METHOD /path") picks
operations; SCHEMATHESIS_SHRINK=1 shrinks a failing case before reporting it.
"""

from __future__ import annotations

import collections
import logging
import os
import random
import re
import time

import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.doors.openapi.seed import BATCH_CSV, seed_site

pytestmark = pytest.mark.django_db(transaction=True)

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "6"))
SHRINK = bool(os.environ.get("SCHEMATHESIS_SHRINK"))
METRICS_TOKEN = "fuzz-metrics-token"
SEED = int(os.environ.get("SCHEMATHESIS_SEED") or random.SystemRandom().randrange(2**32))
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
]


@schemathesis.serializer("text/csv")
def _csv(ctx, value) -> dict:
    """Staged-data uploads in CSV: the generated string is the body."""
    return {"data": value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value}


class Run:
    """One run over the schema: the site, the server's exceptions, and what each operation answered."""

    def __init__(self, site, document):
        self.site, self.document = site, document
        self.session = requests.Session()
        self.server = ServerExceptions()
        self.statuses: dict[str, collections.Counter] = {}
        self.calls = 0
        self.call_seconds = 0.0

    def send(self, case, headers: dict):
        started = time.monotonic()
        response = case.call(base_url=self.site.base, session=self.session, headers=headers, timeout=30)
        self.call_seconds += time.monotonic() - started
        self.calls += 1
        self.statuses.setdefault(case.operation.label, collections.Counter())[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except BaseException as exc:
            exc.request_id = _request_id(response)
            raise

    def explicit_cases(self, operation) -> list:
        """(case, headers): the schema's request examples, bodies naming seeded objects, the plain call."""
        site = self.site
        ids = site.path_parameters(operation.path, operation.method)
        raw = self.document["paths"][operation.path][operation.method.lower()]
        bodies = [
            (example["value"], media_type)
            for media_type, content in raw.get("requestBody", {}).get("content", {}).items()
            for example in content.get("examples", {}).values()
        ]
        bodies += _real_bodies(site, raw.get("operationId", ""))
        cases = [
            (operation.Case(path_parameters=ids, body=body, media_type=media), site.headers) for body, media in bodies
        ]
        if "requestBody" not in raw:
            cases.append((operation.Case(path_parameters=ids), site.headers))
        if operation.path == "/id":  # its other answer: "Not authenticated."
            cases.append((operation.Case(), {"Authorization": "Basic bm9ib2R5Om5vdGhpbmc="}))
        if operation.path == "/metrics":  # its own token, not an API token
            cases.append((operation.Case(), {"Authorization": f"Bearer {METRICS_TOKEN}"}))
        return cases

    def strategy(self, operation):
        ids = self.site.path_parameters(operation.path, operation.method)
        fixed = {"path_parameters": ids} if ids else {}
        generated_ids = operation.as_strategy()  # unknown and malformed ids
        if operation.method.upper() == "DELETE":  # ... which must not delete what other operations use
            seeded = self.site.seeded()
            generated_ids = generated_ids.filter(
                lambda case: not seeded & {str(v) for v in case.path_parameters.values()}
            )
        return st.one_of(
            operation.as_strategy(**fixed),
            operation.as_strategy(**fixed),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, **fixed),
            generated_ids,
        )

    def fuzz(self, operation) -> None:
        """The explicit cases, then the generated ones; raises the first failure schemathesis reports."""
        for case, headers in self.explicit_cases(operation):
            self.send(case, headers)

        @seed(SEED)
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.generate, *([Phase.shrink] if SHRINK else [])],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
            print_blob=True,
        )
        @given(case=self.strategy(operation))
        def generated(case):
            self.send(case, self.site.headers)

        generated()

    def report(self, failures: dict) -> str:
        """Each failure as schemathesis words it (with a curl), and the server's exception behind a 5xx."""
        out = []
        for label, exc in failures.items():
            request_id = getattr(exc, "request_id", "-")
            cause = self.server.by_request.get(request_id)
            behind = f"\n    in the server: {type(cause).__name__}: {cause}" if cause else ""
            out.append(f"=== {label} (X-Request-Id {request_id}){behind}\n{exc}")
        return "\n\n".join(out)


class ServerExceptions(logging.Handler):
    """The exception behind each 500, by request id, as the JSON error middleware logs it."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.by_request: dict[str, BaseException] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.by_request[getattr(record, "request_id", "-")] = record.exc_info[1]


def _request_id(response) -> str:
    value = {k.lower(): v for k, v in response.headers.items()}.get("x-request-id", "-")
    return value[0] if isinstance(value, list) else value


def _ruddr_body(ids: dict) -> dict:
    from doors.ruddr.api.examples import OPPORTUNITY_REQUEST

    return {
        **OPPORTUNITY_REQUEST,
        "companyId": ids["companies"],
        "opportunityStageId": ids["opportunity-stages"],
        "ownerId": ids["members"],
        "opportunityLeadSourceId": ids["opportunity-lead-sources"],
        "opportunityTypeId": ids["opportunity-types"],
        "tagIds": [ids["tags"]],
        "practiceId": ids["practices"],
        "projects": [{"id": ids["projects"], "amount": 50000}],
    }


def _real_bodies(site, operation_id: str) -> list:
    """Bodies naming the seeded objects, so the success paths are reached too."""
    definition = f"/opportunities/imports/{site.definitions['opportunities']}"
    token = {"grant_type": "password", "username": site.login, "password": site.password,
             "client_id": site.client_id, "client_secret": site.client_secret}  # fmt: skip
    return {
        "syncs_create": [({"syncedInstanceUri": definition}, "application/json")],
        "oauth2_token": [(token, "application/x-www-form-urlencoded"), (token, "application/json")],
        "batch_upload": [({"file": BATCH_CSV.replace("FUZZ-B", "FUZZ-C")}, "multipart/form-data")],
        "ruler_batch_upload": [({"file": BATCH_CSV.replace("FUZZ-B", "FUZZ-D")}, "multipart/form-data")],
        "capillary_upload_file": [({"file": "OpportunityID,OpportunityName,Stage,Amount\r\nCAP-2,Two,Prospecting,1\r\n",
                                    "customerIdentifier": "NOT_TAGGED"}, "multipart/form-data")],
        "api_v1_opportunities_create": [
            ({"name": "Fuzzed", "companyId": site.ids["accounts"], "opportunityStageId": site.ids["stages"],
              "tagIds": [site.ids["tags"]], "ownerId": site.ids["owners"]}, "application/json"),
        ],
        "api_v1_contacts_create": [({"email": "fuzz@acme.example", "accountId": site.ids["accounts"]}, "application/json")],
        # Ruddr's door: its document's example, naming the seeded records.
        "ruddr_opportunities_create": [(_ruddr_body(site.workspace), "application/json")],
        "ruddr_opportunities_update": [({"opportunityStageId": site.workspace["opportunity-stages"],
                                         "projects": [{"id": site.workspace["projects"], "amount": 5}]},
                                        "application/json")],
        # Updates whose example would clash with what the create examples made (names are unique).
        "api_v1_stages_update": [({"name": "Renamed stage", "probability": "0.5", "status": "open",
                                   "sort_order": 5}, "application/json")],
        "api_v1_stages_partial_update": [({"probability": "0.6"}, "application/json")],
        "api_v1_tags_partial_update": [({"name": "Renamed tag"}, "application/json")],
        "api_v1_owners_partial_update": [({"name": "Renamed owner"}, "application/json")],
        "api_v1_pipelines_partial_update": [({"label": "Renamed pipeline"}, "application/json")],
        "api_v1_opportunities_partial_update": [({"amount": 13000, "tagIds": []}, "application/json")],
        "api_v1_accounts_partial_update": [({"city": "Paris"}, "application/json")],
        "api_v1_contacts_partial_update": [({"firstName": "Anna"}, "application/json")],
    }.get(operation_id, [])  # fmt: skip


def test_every_operation_answers_as_documented(live_server, celery_worker_process, currencies, settings):
    """No operation answers a 5xx or anything its schema does not document."""
    settings.METRICS_TOKEN = METRICS_TOKEN
    document = yaml.safe_load(requests.get(f"{live_server.url}/api/schema", timeout=30).text)
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(
        1
        for item in document["paths"].values()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )
    if only := os.environ.get("SCHEMATHESIS_OPERATIONS"):
        operations = [op for op in operations if re.search(only, op.label)]
        assert operations, f"SCHEMATHESIS_OPERATIONS={only!r} matches no operation"
    run = Run(seed_site(live_server.url, document, celery_worker_process), document)
    logging.getLogger("kernel.middleware").addHandler(run.server)
    failures, started = {}, time.monotonic()
    try:
        for operation in operations:
            try:
                run.fuzz(operation)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every failure, then fail once
                failures[operation.label] = exc
    finally:
        logging.getLogger("kernel.middleware").removeHandler(run.server)
    elapsed = time.monotonic() - started
    print(
        f"schemathesis: {len(operations)} operations, {run.calls} requests in {elapsed:.0f} s "
        f"({run.call_seconds:.0f} s waiting for answers), seed {SEED}"
    )
    for label, counts in run.statuses.items():
        print(f"  {label}: {dict(sorted(counts.items()))}")
    assert not failures, (
        f"{len(failures)} of {len(operations)} operations failed (seed {SEED}):\n\n{run.report(failures)}"
    )
    unanswered = [
        op.label
        for op in operations
        if op.label not in failures and not any(200 <= s < 300 for s in run.statuses.get(op.label, {}))
    ]
    assert unanswered == [], "operations that never answered a success: the seeded ids or bodies do not reach them"
