from django.apps import AppConfig


class HullapiConfig(AppConfig):
    name = "hullapi"
    verbose_name = "Thermodynamics (convex hull)"
