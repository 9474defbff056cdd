"""The site's stage list over REST (`/api/v1/stages`), and its tags, owners and pipelines.

Same conventions as every /api/v1 resource: camelCase, the paging envelope with `limit`, `offset`,
`orderBy`, `q`, `totalResults`, JSON bodies only, unknown and read-only properties a 400.
"""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.response import Response

from doors.eloqua.schema.shapes import error_response
from doors.rest.opportunities.serializers import OwnerSerializer, PipelineSerializer, StageSerializer, TagSerializer
from entities.opportunities.models import Owner, Pipeline, Stage, Tag
from entities.opportunities.selectors import stage_list
from entities.opportunities.services import stage_create, stage_delete, stage_update
from kernel.paging import EnvelopePagination, ListSpec
from kernel.parsers import JSONParser

# Every detail route answers GET and HEAD (and OPTIONS), PATCH and DELETE; PUT is not offered.
DETAIL_METHODS = ["get", "head", "options", "patch", "delete"]


class _SiteListMixin:
    """Site-scoped generic CRUD: reads through `.for_site`, writes stamped with the site."""

    model = None
    parser_classes = [JSONParser]
    pagination_class = EnvelopePagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no site
            return self.model.objects.none()
        return self.model.objects.for_site(self.request.user.site).order_by("id")

    def get_serializer_context(self):
        site = None if getattr(self, "swagger_fake_view", False) else self.request.user.site
        return {**super().get_serializer_context(), "site": site}

    def perform_create(self, serializer):
        serializer.save(site=self.request.user.site)


STAGE_LIST_SPEC = ListSpec(
    fields={"name": "name", "probability": "probability", "statusId": "status", "sortOrder": "sort_order",
            "externalId": "external_id", "id": "id"},
    default_order=("sort_order", "id"),
)  # fmt: skip


class StageListApi(_SiteListMixin, generics.ListCreateAPIView):
    model, serializer_class, list_spec = Stage, StageSerializer, STAGE_LIST_SPEC

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Stage.objects.none()
        return stage_list(site=self.request.user.site)

    @extend_schema(request=StageSerializer, responses={201: StageSerializer})
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        stage = stage_create(site=request.user.site, data=serializer.validated_data)
        return Response(self.get_serializer(stage).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    delete=extend_schema(
        responses={204: None, 409: error_response("409", "The stage is used by opportunities, or is the default.")}
    )
)
class StageDetailApi(_SiteListMixin, generics.RetrieveUpdateDestroyAPIView):
    model, serializer_class = Stage, StageSerializer
    http_method_names = DETAIL_METHODS

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Stage.objects.none()
        return stage_list(site=self.request.user.site)

    @extend_schema(request=StageSerializer, responses={200: StageSerializer})
    def patch(self, request, pk):
        stage = self.get_object()
        serializer = self.get_serializer(stage, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        stage = stage_update(stage=stage, data=serializer.validated_data)
        request.user.site.refresh_from_db(fields=["default_stage"])  # isDefault is read from it
        return Response(self.get_serializer(stage).data)

    def perform_destroy(self, instance):
        stage_delete(stage=instance)


class TagListApi(_SiteListMixin, generics.ListCreateAPIView):
    model, serializer_class = Tag, TagSerializer
    list_spec = ListSpec(fields={"name": "name", "id": "id"})


class TagDetailApi(_SiteListMixin, generics.RetrieveUpdateDestroyAPIView):
    model, serializer_class = Tag, TagSerializer
    http_method_names = DETAIL_METHODS


class OwnerListApi(_SiteListMixin, generics.ListCreateAPIView):
    model, serializer_class = Owner, OwnerSerializer
    list_spec = ListSpec(fields={"name": "name", "email": "email", "externalId": "external_id", "id": "id"})


class OwnerDetailApi(_SiteListMixin, generics.RetrieveUpdateDestroyAPIView):
    model, serializer_class = Owner, OwnerSerializer
    http_method_names = DETAIL_METHODS


class PipelineListApi(_SiteListMixin, generics.ListCreateAPIView):
    model, serializer_class = Pipeline, PipelineSerializer
    list_spec = ListSpec(fields={"label": "label", "externalId": "external_id", "id": "id"})


class PipelineDetailApi(_SiteListMixin, generics.RetrieveUpdateDestroyAPIView):
    model, serializer_class = Pipeline, PipelineSerializer
    http_method_names = DETAIL_METHODS
