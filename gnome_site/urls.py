from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from discovery.api import MaterialConductivity
from gnome_site import api_schemas  # noqa: F401 - registers the discovery API's response schemas
from materials import views as material_views

admin.site.site_header = "GNoME Explorer administration"
admin.site.site_title = "GNoME Explorer admin"

urlpatterns = [
    path("", material_views.home, name="home"),
    path("healthz", material_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/hull/", include("hullapi.urls")),
    # before the catalogue's routes, which would read "conductivity" as a sub-resource they do not have
    path("api/v1/materials/<str:material_id>/conductivity/", MaterialConductivity.as_view(), name="material-conductivity"),
    path("api/v1/materials/", include("materials.urls")),
    path("api/v1/screens/", include("hullapi.screen_urls")),
    path("api/v1/discovery/", include("discovery.urls")),
    path("api/v1/predict/", include("discovery.predict_urls")),
    path("api/mp/", include("materials.mp_urls")),  # the mp-api client's routes (docs/mp_api.md)
    path("optimade/", include("materials.optimade.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler400 = "gnome_site.errors.bad_request"
handler403 = "gnome_site.errors.permission_denied"
handler404 = "gnome_site.errors.page_not_found"
handler500 = "gnome_site.errors.server_error"
