from django.urls import path

from . import api

app_name = "discovery-api"

urlpatterns = [
    path("rounds/", api.RoundList.as_view(), name="rounds"),
    path("rounds/<int:pk>/", api.RoundDetail.as_view(), name="round"),
    path("rounds/<int:pk>/candidates", api.RoundCandidates.as_view(), name="candidates"),
    path("campaigns/", api.CampaignList.as_view(), name="campaigns"),
    path("campaigns/<int:pk>/", api.CampaignDetail.as_view(), name="campaign"),
]
