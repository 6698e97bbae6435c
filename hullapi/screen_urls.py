from django.urls import path

from . import screen_api

app_name = "screens-api"

urlpatterns = [
    path("", screen_api.ScreenList.as_view(), name="list"),
    path("<str:name>/", screen_api.ScreenDetail.as_view(), name="detail"),
    path("<str:name>/results", screen_api.ScreenResults.as_view(), name="results"),
    path("<str:name>/preview", screen_api.ScreenPreview.as_view(), name="preview"),
    path("<str:name>/materials/<str:material_id>", screen_api.ScreenMaterial.as_view(), name="material"),
]
