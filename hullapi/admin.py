from __future__ import annotations

from django.contrib import admin, messages

from materials.admin import MaterialAdmin, ReadOnlyMixin

from . import tasks
from .models import HullRun, Stability


@admin.register(HullRun)
class HullRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("pk", "hull_set", "status", "started_at", "seconds", "systems", "entries", "stable",
                    "not_placed", "disagreements")
    list_filter = ("hull_set", "status")
    actions = ["recompute_again"]

    @admin.action(description="Recompute these hull sets in full (Celery)")
    def recompute_again(self, request, queryset):
        hull_sets = sorted(set(queryset.values_list("hull_set", flat=True)))
        for hull_set in hull_sets:
            tasks.recompute_hull.delay(hull_set)
        self.message_user(request, f"Recompute started for: {', '.join(hull_sets)}", messages.SUCCESS)


@admin.register(Stability)
class StabilityAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("material", "hull_set", "is_member", "e_above_hull_ev_per_atom", "is_stable",
                    "phase_separation_ev_per_atom", "published_e_above_hull_ev_per_atom", "disagrees", "hull_run")
    list_filter = ("hull_set", "is_stable", "is_member", "disagrees")
    search_fields = ("material__material_id", "material__formula_reduced", "material__chemsys")
    list_select_related = ("material", "hull_run")
    show_full_result_count = False


class StabilityInline(ReadOnlyMixin, admin.TabularInline):
    model = Stability
    fields = ("hull_set", "is_member", "e_form_ev_per_atom", "e_above_hull_ev_per_atom", "is_stable",
              "decomposition", "phase_separation_ev_per_atom", "published_e_above_hull_ev_per_atom", "disagrees",
              "note", "hull_run", "computed_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


MaterialAdmin.inlines = [*MaterialAdmin.inlines, StabilityInline]
