from __future__ import annotations

from django.contrib import admin, messages

from materials.admin import MaterialAdmin, ReadOnlyMixin
from materials.models import ScreenRun
from materials.screens import SCREENS

from . import tasks
from .models import ElectrochemicalWindow, HullRun, Stability


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


@admin.register(ScreenRun)
class ScreenRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Screen runs with the count at every stage; admins re-run screens (default criteria) from here."""

    list_display = ("pk", "screen", "status", "finished_at", "seconds", "hull_version", "stage_counts", "outcomes")
    list_filter = ("screen", "status")
    readonly_fields = ("screen", "status", "criteria", "stages", "summary", "hull_version", "started_at", "finished_at",
                       "seconds", "error")
    actions = ["run_again", "run_every_screen"]

    @admin.display(description="stage outputs")
    def stage_counts(self, obj):
        return " → ".join(f"{s['name']} {s['output']}" for s in obj.stages)

    @admin.display(description="outcome")
    def outcomes(self, obj):
        s = obj.summary or {}
        return f"{s.get('candidates', 0)} candidates, {s.get('passed_with_unknowns', 0)} with unknowns"

    @admin.action(description="Run these screens again with the same criteria (Celery)")
    def run_again(self, request, queryset):
        for run in queryset:
            tasks.run_screen.delay(run.screen, run.criteria)
        self.message_user(request, f"Started {queryset.count()} screen run(s)", messages.SUCCESS)

    @admin.action(description="Run every screen with its default criteria (Celery)")
    def run_every_screen(self, request, queryset):
        for name in SCREENS:
            tasks.run_screen.delay(name)
        self.message_user(request, f"Started: {', '.join(SCREENS)}", messages.SUCCESS)


class WindowInline(ReadOnlyMixin, admin.TabularInline):
    model = ElectrochemicalWindow
    fields = ("hull_set", "reduction_v", "oxidation_v", "shifted_ev_per_atom", "reduction_products",
              "oxidation_products", "note", "hull_run")
    readonly_fields = fields
    extra = 0
    can_delete = False


MaterialAdmin.inlines = [*MaterialAdmin.inlines, WindowInline]
