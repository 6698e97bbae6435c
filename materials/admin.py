from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from .models import Calculation, ElementalReference, ImportRun, Material

PROVENANCE = ("source", "licence", "dataset", "dataset_version", "import_run", "row_hash", "imported_at", "updated_at")


class ReadOnlyMixin:
    """Catalogue rows come from importers: the admin shows them and their provenance but never edits them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CalculationInline(ReadOnlyMixin, admin.TabularInline):
    model = Calculation
    fields = ("method", "kind", "energy_ev", "energy_corrected_ev", "correction_ev", "e_form_ev_per_atom", "energy_note")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Material)
class MaterialAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "material_id", "formula_reduced", "chemsys", "nsites", "spacegroup_symbol", "crystal_system",
        "e_form_ev_per_atom", "source", "licence",
    )
    list_filter = ("source", "licence", "nelements", "crystal_system", "dimensionality")
    search_fields = ("material_id", "formula_reduced", "chemsys", "=formula_anonymous")
    show_full_result_count = False
    list_per_page = 50
    inlines = [CalculationInline]
    exclude = ("structure", "extra")
    readonly_fields = ("structure_summary", "published_values")

    def get_queryset(self, request):
        # The list never needs the structures (the heaviest column).
        qs = super().get_queryset(request)
        return qs.defer("structure") if request.resolver_match.url_name.endswith("changelist") else qs

    @admin.display(description="Structure")
    def structure_summary(self, obj: Material):
        structure = obj.get_structure()
        if structure is None:
            return "No structure (energy-only hull phase)"
        return format_html("<pre>{}</pre>", str(structure))

    @admin.display(description="Published values (as given by the dataset)")
    def published_values(self, obj: Material):
        return format_html("<pre>{}</pre>", json.dumps(obj.extra, indent=2, sort_keys=True))


@admin.register(Calculation)
class CalculationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("material", "method", "kind", "energy_corrected_ev", "correction_ev", "e_form_ev_per_atom")
    list_filter = ("kind", "method")
    search_fields = ("material__material_id", "material__formula_reduced", "material__chemsys")
    list_select_related = ("material",)
    show_full_result_count = False
    exclude = ("structure",)


@admin.register(ElementalReference)
class ElementalReferenceAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("element", "energy_per_atom_ev", "reference_material_id", "dataset")
    search_fields = ("element", "reference_material_id")


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "pk", "importer", "dataset", "status", "started_at", "finished_at", "run_by",
        "rows_read", "inserted", "updated", "unchanged", "rejected", "warnings",
    )
    list_filter = ("importer", "status", "source")
    search_fields = ("dataset", "run_by", "importer")
    exclude = ("issues",)
    readonly_fields = ("issue_table",)

    @admin.display(description="Rejected rows and warnings")
    def issue_table(self, obj: ImportRun):
        rows = "".join(
            format_html("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", i["row"], i["id"], i["level"], i["reason"])
            for i in obj.issues[:2000]
        )
        more = f"<p>... {len(obj.issues) - 2000} more</p>" if len(obj.issues) > 2000 else ""
        return format_html(
            "<table><tr><th>Row</th><th>Id</th><th>Level</th><th>Reason</th></tr>{}</table>{}",
            mark_safe(rows), mark_safe(more),  # rows: built by format_html above; more: no user data
        )
