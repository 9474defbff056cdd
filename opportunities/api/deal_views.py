"""`POST /api/v1/deals`: upsert up to 100 deals by externalDealId, with a result per deal."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from ..services import deals_upsert
from .fields import currency_codes
from .serializers import (
    MAX_DEALS,
    DealsRequestSchema,
    DealsRequestSerializer,
    DealsResponseSerializer,
    deals_validate,
)


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
    @extend_schema(
        summary="Upsert deals",
        description=(
            f"Create or update 1 to {MAX_DEALS} deals by `externalDealId`. Always 200 when the envelope is "
            "valid, with a result per deal in input order and a summary; a failed deal writes nothing."
        ),
        request=DealsRequestSchema,
        responses={200: DealsResponseSerializer},
    )
    def post(self, request):
        envelope = DealsRequestSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        site = request.user.site
        items = deals_validate(envelope.validated_data["deals"], context={"site": site, "currencies": currency_codes()})
        outcomes = {i.index: i for i in items if i.failures}
        valid = [(i.index, i.data) for i in items if not i.failures]
        outcomes.update({o.index: o for o in deals_upsert(site=site, deals=valid)})
        results = [_result(outcomes[i.index]) for i in items]
        failed = sum(1 for r in results if r["status"] == "failed")
        summary = {"total": len(results), "upserted": len(results) - failed, "failed": failed}
        return Response({"results": results, "summary": summary})
