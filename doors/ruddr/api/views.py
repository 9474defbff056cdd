"""Ruddr's opportunity API over the opportunities domain: parse, call one service or selector,
render. Authentication, tenancy and the error shape are the server's own (`bulkapi`)."""

from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from entities.opportunities.selectors import opportunity_get, opportunity_list_detailed
from entities.opportunities.services import opportunity_create, opportunity_delete, opportunity_update
from kernel.exceptions import NotFound
from kernel.parsers import JSONParser

from .. import selectors
from . import examples
from .paging import PARAMETERS, cursor_page
from .serializers import (
    RuddrCompanySerializer,
    RuddrMemberSerializer,
    RuddrOpportunityInputSerializer,
    RuddrOpportunitySerializer,
    RuddrProjectSerializer,
    RuddrReferenceSerializer,
    RuddrStageSerializer,
    RuddrTagSerializer,
)


def page_of(name: str, item: type[serializers.Serializer]) -> serializers.Serializer:
    return inline_serializer(
        name,
        {
            "results": item(many=True),
            "hasMore": serializers.BooleanField(help_text="More records after this page (before, with endingBefore)."),
        },
    )


class _RuddrApi(APIView):
    parser_classes = [JSONParser]

    @property
    def site(self):
        return self.request.user.site

    def context(self) -> dict:
        return {"request": self.request, "site": self.site}


class OpportunityListApi(_RuddrApi):
    @extend_schema(
        operation_id="ruddr_opportunities_list",
        summary="List opportunities (Ruddr)",
        parameters=PARAMETERS,
        responses={
            200: OpenApiResponse(
                page_of("RuddrOpportunityPage", RuddrOpportunitySerializer),
                examples=examples.OPPORTUNITY_PAGE_EXAMPLES,
            )
        },
    )
    def get(self, request):
        context = self.context()
        body = cursor_page(
            opportunity_list_detailed(site=self.site),
            request.query_params,
            lambda rows: RuddrOpportunitySerializer(rows, many=True, context=context).data,
        )
        return Response(body)

    @extend_schema(
        operation_id="ruddr_opportunities_create",
        summary="Create an opportunity (Ruddr)",
        request=RuddrOpportunityInputSerializer,
        examples=examples.OPPORTUNITY_REQUEST_EXAMPLES,
        responses={200: OpenApiResponse(RuddrOpportunitySerializer, examples=examples.OPPORTUNITY_EXAMPLES)},
    )
    def post(self, request):
        serializer = RuddrOpportunityInputSerializer(data=request.data, context=self.context())
        serializer.is_valid(raise_exception=True)
        opp = opportunity_create(site=self.site, data=serializer.validated_data)
        opp = opportunity_get(site=self.site, uuid=opp.uuid, detailed=True)
        return Response(RuddrOpportunitySerializer(opp, context=self.context()).data, status=status.HTTP_200_OK)


class OpportunityDetailApi(_RuddrApi):
    def render(self, pk) -> dict:
        opp = opportunity_get(site=self.site, uuid=pk, detailed=True)
        return RuddrOpportunitySerializer(opp, context=self.context()).data

    @extend_schema(
        operation_id="ruddr_opportunities_get",
        summary="Get an opportunity (Ruddr)",
        responses={200: OpenApiResponse(RuddrOpportunitySerializer, examples=examples.OPPORTUNITY_EXAMPLES)},
    )
    def get(self, request, pk):
        return Response(self.render(pk))

    @extend_schema(
        operation_id="ruddr_opportunities_update",
        summary="Update an opportunity (Ruddr, partial)",
        request=RuddrOpportunityInputSerializer(partial=True),
        examples=examples.OPPORTUNITY_PATCH_EXAMPLES,
        responses={200: OpenApiResponse(RuddrOpportunitySerializer, examples=examples.OPPORTUNITY_EXAMPLES)},
    )
    def patch(self, request, pk):
        opp = opportunity_get(site=self.site, uuid=pk)
        serializer = RuddrOpportunityInputSerializer(opp, data=request.data, partial=True, context=self.context())
        serializer.is_valid(raise_exception=True)
        opportunity_update(opportunity=opp, data=serializer.validated_data)
        return Response(self.render(pk))

    @extend_schema(
        operation_id="ruddr_opportunities_delete", summary="Delete an opportunity (Ruddr)", responses={204: None}
    )
    def delete(self, request, pk):
        opportunity_delete(opportunity=opportunity_get(site=self.site, uuid=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- the resources an opportunity refers to: read-only lists in the same shape ------------------


def reference_views(
    path: str, noun: str, selector: Callable, serializer: type[serializers.Serializer]
) -> tuple[type[APIView], type[APIView]]:
    """A list (`{results, hasMore}`) and a detail view of one kind of record of the site."""
    name = "".join(part.title() for part in path.split("-"))
    example = examples.REFERENCE_EXAMPLES[path]
    op = path.replace("-", "_")

    class ListApi(_RuddrApi):
        @extend_schema(
            operation_id=f"ruddr_{op}_list",
            summary=f"List {noun}s (Ruddr)",
            parameters=PARAMETERS,
            responses={
                200: OpenApiResponse(
                    page_of(f"Ruddr{name}Page", serializer),
                    examples=[OpenApiExample("A page", value={"results": [example], "hasMore": False})],
                )
            },
        )
        def get(self, request):
            context = self.context()
            body = cursor_page(
                selector(site=self.site),
                request.query_params,
                lambda rows: serializer(rows, many=True, context=context).data,
            )
            return Response(body)

    class DetailApi(_RuddrApi):
        @extend_schema(
            operation_id=f"ruddr_{op}_get",
            summary=f"Get {'an' if noun[0] in 'aeiou' else 'a'} {noun} (Ruddr)",
            responses={200: OpenApiResponse(serializer, examples=[OpenApiExample("One", value=example)])},
        )
        def get(self, request, pk):
            record = selector(site=self.site).filter(uuid=pk).first()
            if record is None:
                raise NotFound(message=f"No {noun} with this id.")
            return Response(serializer(record, context=self.context()).data)

    ListApi.__name__ = ListApi.__qualname__ = f"{name}ListApi"
    DetailApi.__name__ = DetailApi.__qualname__ = f"{name}DetailApi"
    return ListApi, DetailApi


REFERENCES = {
    "opportunity-stages": ("opportunity stage", selectors.stage_list, RuddrStageSerializer),
    "opportunity-types": ("opportunity type", selectors.opportunity_type_list, RuddrReferenceSerializer),
    "opportunity-lead-sources": ("opportunity lead source", selectors.lead_source_list, RuddrReferenceSerializer),
    "practices": ("practice", selectors.practice_list, RuddrReferenceSerializer),
    "tags": ("tag", selectors.tag_list, RuddrTagSerializer),
    "members": ("member", selectors.member_list, RuddrMemberSerializer),
    "projects": ("project", selectors.project_list, RuddrProjectSerializer),
    "companies": ("company", selectors.company_list, RuddrCompanySerializer),
}
REFERENCE_VIEWS = {path: reference_views(path, *spec) for path, spec in REFERENCES.items()}
