from django.urls import path

from doors.rest.opportunities import opportunity_views, views
from doors.upsert import views as deal_views

urlpatterns = [
    path("stages", views.StageListApi.as_view(), name="stage-list"),
    path("stages/<id:pk>", views.StageDetailApi.as_view(), name="stage-detail"),
    path("tags", views.TagListApi.as_view(), name="tag-list"),
    path("tags/<id:pk>", views.TagDetailApi.as_view(), name="tag-detail"),
    path("owners", views.OwnerListApi.as_view(), name="owner-list"),
    path("owners/<id:pk>", views.OwnerDetailApi.as_view(), name="owner-detail"),
    path("pipelines", views.PipelineListApi.as_view(), name="pipeline-list"),
    path("pipelines/<id:pk>", views.PipelineDetailApi.as_view(), name="pipeline-detail"),
    path("opportunities", opportunity_views.OpportunityListApi.as_view(), name="opportunity-list"),
    path("opportunities/<uuid:pk>", opportunity_views.OpportunityDetailApi.as_view(), name="opportunity-detail"),
    path("deals", deal_views.DealUpsertApi.as_view(), name="deal-upsert"),
]
