"""`/api/v1/opportunities`: strict single-record CRUD over the opportunities every door writes."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from doors.rest.opportunities.examples import OPPORTUNITY_PAGE_EXAMPLE
from doors.rest.opportunities.serializers import OpportunityInputSerializer, OpportunitySerializer
from entities.opportunities.filtersets import OpportunityFilterSet
from entities.opportunities.models import Opportunity
from entities.opportunities.selectors import opportunity_get, opportunity_list
from entities.opportunities.services import opportunity_create, opportunity_delete, opportunity_update
from kernel.paging import ListSpec, paginate
from kernel.parsers import JSONParser

# orderBy names (`orderBy=amount DESC`) and `q` terms (`q=name='Acme*'`) as on the Bulk lists.
LIST_SPEC = ListSpec(
    fields={
        "name": "name",
        "externalId": "external_id",
        "amount": "amount",
        "closeDate": "close_date",
        "openDate": "open_date",
        "createdAt": "created_at",
        "modifiedAt": "updated_at",
        "currency": "currency",
    },
    default_order=("id",),
    date_fields={"createdAt", "modifiedAt"},
)
MAX_PAGE = 1000

PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, description=f"Page size, 1 to {MAX_PAGE} (default {MAX_PAGE})."),
    OpenApiParameter("offset", int, description="Items to skip (default 0)."),
    OpenApiParameter("orderBy", str, description="`<field> [ASC|DESC]`: " + ", ".join(LIST_SPEC.fields) + "."),
    OpenApiParameter("totalResults", bool, description="Count all matches (default true)."),
    OpenApiParameter("q", str, description="Eloqua-style terms, e.g. `name='Acme*' amount>1000`."),
]

OpportunityPage = inline_serializer(
    "OpportunityPage",
    {
        "items": OpportunitySerializer(many=True),
        "totalResults": serializers.IntegerField(required=False),
        "limit": serializers.IntegerField(),
        "offset": serializers.IntegerField(),
        "count": serializers.IntegerField(),
        "hasMore": serializers.BooleanField(),
    },
)


class _SiteApi(generics.GenericAPIView):
    serializer_class = OpportunitySerializer
    parser_classes = [JSONParser]

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "site": self.request.user.site}

    def render(self, opp) -> dict:
        return OpportunitySerializer(opp, context=self.get_serializer_context()).data


class OpportunityListApi(_SiteApi):
    filterset_class = OpportunityFilterSet

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no site
            return Opportunity.objects.none()
        return opportunity_list(site=self.request.user.site)

    @extend_schema(
        operation_id="opportunities_list",
        summary="List opportunities",
        parameters=PAGE_PARAMETERS,
        responses={200: OpenApiResponse(OpportunityPage, examples=[OPPORTUNITY_PAGE_EXAMPLE])},
        filters=True,
    )
    def get(self, request):
        qs = self.filter_queryset(self.get_queryset())
        context = self.get_serializer_context()
        body = paginate(
            qs,
            request.query_params,
            lambda rows: OpportunitySerializer(rows, many=True, context=context).data,
            LIST_SPEC,
            max_limit=MAX_PAGE,
            filters=self.filterset_class,
        )
        return Response(body)

    @extend_schema(
        summary="Create an opportunity",
        request=OpportunityInputSerializer,
        responses={201: OpportunitySerializer},
    )
    def post(self, request):
        site = request.user.site
        serializer = OpportunityInputSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        opp = opportunity_create(site=site, data=serializer.validated_data)
        return Response(self.render(opportunity_get(site=site, uuid=opp.uuid)), status=status.HTTP_201_CREATED)


class OpportunityDetailApi(_SiteApi):
    @extend_schema(
        operation_id="opportunities_get", summary="Get an opportunity", responses={200: OpportunitySerializer}
    )
    def get(self, request, pk):
        return Response(self.render(opportunity_get(site=request.user.site, uuid=pk)))

    @extend_schema(
        summary="Update an opportunity (partial)",
        request=OpportunityInputSerializer,
        responses={200: OpportunitySerializer},
    )
    def patch(self, request, pk):
        site = request.user.site
        opp = opportunity_get(site=site, uuid=pk)
        serializer = OpportunityInputSerializer(
            opp, data=request.data, partial=True, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        opportunity_update(opportunity=opp, data=serializer.validated_data)
        return Response(self.render(opportunity_get(site=site, uuid=pk)))

    @extend_schema(summary="Delete an opportunity", responses={204: None})
    def delete(self, request, pk):
        opportunity_delete(opportunity=opportunity_get(site=request.user.site, uuid=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
