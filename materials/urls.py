from django.urls import path

from . import api, uploads

app_name = "materials-api"

urlpatterns = [
    path("", api.MaterialList.as_view(), name="list"),
    path("export", api.MaterialExport.as_view(), name="export"),
    path("uploads/", uploads.MaterialUpload.as_view(), name="upload"),
    path("<str:material_id>/", api.MaterialDetail.as_view(), name="detail"),
    path("<str:material_id>/structure", api.MaterialStructure.as_view(), name="structure"),
    path("<str:material_id>/similar/", api.MaterialSimilar.as_view(), name="similar"),
]
