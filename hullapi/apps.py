from django.apps import AppConfig


class HullapiConfig(AppConfig):
    name = "hullapi"
    verbose_name = "Thermodynamics (convex hull)"

    def ready(self) -> None:
        from django.db import transaction

        from materials.signals import materials_changed
        from materials.versioned_cache import register_run_table

        from .models import HullRun

        register_run_table(HullRun)  # a recompute changes the data its answers (and the catalogue's) show

        def recompute_touched_systems(sender, material_ids, **kwargs) -> None:
            from . import tasks

            transaction.on_commit(lambda: tasks.recompute_for_materials.delay(material_ids))

        materials_changed.connect(recompute_touched_systems, dispatch_uid="hullapi-recompute-on-import")
