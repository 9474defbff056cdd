"""The site's stage list over REST (`/api/v1/stages`), and its tags, owners and pipelines."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import generics, serializers

from bulkapi.api.schema.shapes import error_response

from ..models import Owner, Pipeline, Stage, Tag
from . import examples
from .serializers import OwnerSerializer, PipelineSerializer, TagSerializer


@extend_schema_serializer(examples=examples.STAGE_EXAMPLES)
class StageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Stage
        fields = ["id", "name", "probability", "status", "sort_order"]
        extra_kwargs = {"probability": {"min_value": 0, "max_value": 1}}

    def validate_name(self, value):
        site = self.context["request"].user.site
        clash = Stage.objects.for_site(site).filter(name__iexact=value)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError("A stage with this name already exists.")
        return value


class StageListApi(generics.ListCreateAPIView):
    serializer_class = StageSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no site
            return Stage.objects.none()
        return Stage.objects.for_site(self.request.user.site)

    def perform_create(self, serializer):
        serializer.save(site=self.request.user.site)


@extend_schema_view(
    delete=extend_schema(responses={204: None, 409: error_response("409", "The stage is used by opportunities.")})
)
class StageDetailApi(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = StageSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no site
            return Stage.objects.none()
        return Stage.objects.for_site(self.request.user.site)

    def perform_destroy(self, instance):
        from django.db.models import ProtectedError

        from bulkapi.exceptions import Conflict, Failure

        try:
            instance.delete()
        except ProtectedError:
            raise Conflict(
                [Failure(field="id", value=instance.pk, constraint="Stage is used by opportunities.")]
            ) from None


# --- the site's tags, owners and pipelines (small, site-scoped lists; no paging) ---------------


class _SiteListMixin:
    """Site-scoped generic CRUD: reads through `.for_site`, writes stamped with the site."""

    model = None
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no site
            return self.model.objects.none()
        return self.model.objects.for_site(self.request.user.site).order_by("id")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "site": self.request.user.site}

    def perform_create(self, serializer):
        serializer.save(site=self.request.user.site)


class TagListApi(_SiteListMixin, generics.ListCreateAPIView):
    model, serializer_class = Tag, TagSerializer


class TagDetailApi(_SiteListMixin, generics.RetrieveUpdateDestroyAPIView):
    model, serializer_class = Tag, TagSerializer
    http_method_names = ["get", "patch", "delete"]


class OwnerListApi(_SiteListMixin, generics.ListCreateAPIView):
    model, serializer_class = Owner, OwnerSerializer


class OwnerDetailApi(_SiteListMixin, generics.RetrieveUpdateDestroyAPIView):
    model, serializer_class = Owner, OwnerSerializer
    http_method_names = ["get", "patch", "delete"]


class PipelineListApi(_SiteListMixin, generics.ListCreateAPIView):
    model, serializer_class = Pipeline, PipelineSerializer


class PipelineDetailApi(_SiteListMixin, generics.RetrieveUpdateDestroyAPIView):
    model, serializer_class = Pipeline, PipelineSerializer
    http_method_names = ["get", "patch", "delete"]
