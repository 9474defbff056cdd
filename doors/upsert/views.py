"""`POST /api/v1/deals`: upsert up to 100 deals by externalDealId, with a result per deal."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from doors.eloqua.schema.shapes import idempotency_parameters, idempotency_responses
from doors.rest.opportunities.fields import currency_codes
from doors.rest.opportunities.serializers import (
    MAX_DEALS,
    DealsRequestSchema,
    DealsRequestSerializer,
    DealsResponseSerializer,
    deals_validate,
)
from entities.opportunities.services import deals_upsert
from kernel.idempotency import body_digest, idempotent
from kernel.parsers import per_item_json_parser


def _result(outcome) -> dict:
    out = {"index": outcome.index, "externalDealId": outcome.external_id}
    if outcome.failures:
        out["status"] = "failed"
        out["error"] = "; ".join(f"{f.field}: {f.constraint}" for f in outcome.failures)
        out["failures"] = [{"field": f.field, "constraint": f.constraint} for f in outcome.failures]
    else:
        out.update(status="upserted", action=outcome.action, id=str(outcome.uuid))
    return out


class DealUpsertApi(APIView):
    # A form or any other body is a 415, never read as if it were JSON. The shared bounds (NUL,
    # unpaired surrogates, numbers too long or not finite, nesting) are checked per deal, so such a
    # deal fails alone (deals_validate) while the rest of the body is held to them as a whole.
    parser_classes = [per_item_json_parser("deals")]

    @extend_schema(
        summary="Upsert deals",
        description=(
            f"Create or update 1 to {MAX_DEALS} deals by `externalDealId`. Always 200 when the envelope is "
            "valid, with a result per deal in input order and a summary; a failed deal writes nothing. Every "
            "check of a deal fails that deal alone, naming the field, the shared input bounds included (a NUL "
            "or unpaired surrogate, a number not finite such as `1e400` or over 40 characters, nesting over 32). "
            "400 only for the body: not JSON, not an object, `deals` not a list of 1 to 100, another property, "
            "or a bound broken outside the deals."
        ),
        request=DealsRequestSchema,
        parameters=idempotency_parameters(200),
        responses={200: DealsResponseSerializer, **idempotency_responses("")},
    )
    def post(self, request):
        digest = body_digest(request)
        envelope = DealsRequestSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        site = request.user.site
        items = deals_validate(envelope.validated_data["deals"], context={"site": site, "currencies": currency_codes()})
        failed = {i.index: i for i in items if i.failures}
        valid = [(i.index, i.data) for i in items if not i.failures]

        def answer(upserted) -> tuple[int, dict]:
            outcomes = {**failed, **{o.index: o for o in upserted}}
            results = [_result(outcomes[i.index]) for i in items]
            failures = sum(1 for r in results if r["status"] == "failed")
            summary = {"total": len(results), "upserted": len(results) - failures, "failed": failures}
            return status.HTTP_200_OK, {"results": results, "summary": summary}

        def handle(idempotency):
            hook = idempotency.hook(answer) if idempotency else None
            code, body = answer(deals_upsert(site=site, deals=valid, before_commit=hook))
            return Response(body, status=code)

        return idempotent(request, handle, digest=digest)
