from django.apps import AppConfig


class MaterialsConfig(AppConfig):
    name = "materials"
    verbose_name = "Catalogue"

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the system checks)
