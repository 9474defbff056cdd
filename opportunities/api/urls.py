from django.urls import path

from bulkapi.api.urls import entity_urls
from bulkapi.models import Entity

from . import views

bulk_urlpatterns = entity_urls("opportunities", Entity.OPPORTUNITY, "opportunity")

urlpatterns = [
    path("stages", views.StageListApi.as_view(), name="stage-list"),
    path("stages/<int:pk>", views.StageDetailApi.as_view(), name="stage-detail"),
]
