from django.urls import path

from . import api

app_name = "hull-api"

urlpatterns = [
    path("stability/", api.StabilityQuery.as_view(), name="stability"),
    path("<str:chemsys>/", api.HullDetail.as_view(), name="detail"),
    path("<str:chemsys>/figure/", api.HullFigure.as_view(), name="figure"),
]
