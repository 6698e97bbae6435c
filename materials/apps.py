from django.apps import AppConfig


class MaterialsConfig(AppConfig):
    name = "materials"
    verbose_name = "Catalogue"

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the system checks)
        from .models import ImportRun, ScreenRun
        from .versioned_cache import register_run_table

        register_run_table(ImportRun)
        register_run_table(ScreenRun)
