"""The site's stage list over REST (`/api/v1/stages`)."""

from rest_framework import generics, serializers

from ..models import Stage


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
        return Stage.objects.for_site(self.request.user.site)

    def perform_create(self, serializer):
        serializer.save(site=self.request.user.site)


class StageDetailApi(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = StageSerializer

    def get_queryset(self):
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
