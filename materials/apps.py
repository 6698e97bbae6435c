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

        from django.db.models.signals import post_save

        from .models import Material

        def fingerprint_saved_material(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
            if raw or (update_fields is not None and "structure" not in update_fields):
                return
            from .services import store_fingerprint

            store_fingerprint(instance)

        post_save.connect(fingerprint_saved_material, sender=Material, dispatch_uid="materials-fingerprint-on-save")
