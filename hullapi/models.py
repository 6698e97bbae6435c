"""Stored stability of every material against the two hull sets, and the recomputations that wrote it."""

from __future__ import annotations

from django.db import models

from materials.choices import RunStatus
from materials.fields import JSONField
from materials.models import Material, Source


class HullSet(models.TextChoices):
    ALL = "all", "All known phases"
    MP = "mp", "Materials Project phases only"


# Which sources build each hull; every other material is placed against it without moving it.
HULL_SET_SOURCES: dict[str, tuple[str, ...]] = {
    # scale-test rows (a load-test database only) join the "all" hull, so that it is computed at full size
    HullSet.ALL: (Source.GNOME, Source.MP, Source.DISCOVERY, Source.SCALE),
    HullSet.MP: (Source.MP,),
}

# The published figure each hull set is compared with, by where it is found in Material.extra["published"].
PUBLISHED_COLUMNS: dict[str, tuple[str, ...]] = {
    HullSet.ALL: ("decomposition_energy_per_atom_all",),
    HullSet.MP: ("decomposition_energy_per_atom_mp", "decomposition_energy_per_atom_mp_snapshot"),
}
DISAGREEMENT_EV_PER_ATOM = 0.025  # a published value further than this from ours is flagged


class HullRun(models.Model):
    """One recomputation of a hull set; its id is the hull version the results carry."""

    Status = RunStatus

    hull_set = models.CharField(max_length=8, choices=HullSet.choices)
    scope = models.JSONField(default=list, blank=True, help_text="Chemical systems recomputed; empty = all.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    systems = models.PositiveIntegerField(default=0, help_text="Chemical systems computed.")
    entries = models.PositiveIntegerField(default=0, help_text="Materials whose stability was written.")
    stable = models.PositiveIntegerField(default=0)
    not_placed = models.PositiveIntegerField(default=0)
    disagreements = models.PositiveIntegerField(
        default=0, help_text=f"Published values more than {DISAGREEMENT_EV_PER_ATOM * 1000:.0f} meV/atom from ours."
    )
    seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        scope = "full" if not self.scope else f"{len(self.scope)} systems"
        return f"hull {self.hull_set} v{self.pk} ({scope}, {self.status})"


class Stability(models.Model):
    """Where a material stands against one hull set (see hullapi.engine for the definitions)."""

    material = models.ForeignKey(Material, on_delete=models.CASCADE, related_name="stabilities")
    hull_set = models.CharField(max_length=8, choices=HullSet.choices)
    is_member = models.BooleanField(help_text="Whether the material is one of the phases that build this hull.")
    e_form_ev_per_atom = models.FloatField(null=True, blank=True)
    e_above_hull_ev_per_atom = models.FloatField(
        null=True, blank=True, help_text="eV/atom; negative for a non-member below the hull. Empty when not placed."
    )
    is_stable = models.BooleanField(default=False)
    decomposition = JSONField(default=list, blank=True, help_text="[[material id, atomic fraction], ...]")
    phase_separation_ev_per_atom = models.FloatField(
        null=True, blank=True, help_text="Stable members: energy relative to the hull without this phase, eV/atom."
    )
    published_e_above_hull_ev_per_atom = models.FloatField(null=True, blank=True)
    published_column = models.CharField(max_length=64, blank=True)
    disagrees = models.BooleanField(
        default=False, help_text=f"Published value more than {DISAGREEMENT_EV_PER_ATOM * 1000:.0f} meV/atom from ours."
    )
    note = models.CharField(max_length=300, blank=True, help_text="Why the material is not placed, if it is not.")
    hull_run = models.ForeignKey(HullRun, on_delete=models.PROTECT, related_name="+")
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["material", "hull_set"], name="stability_one_per_hull_set")]
        indexes = [
            models.Index(fields=["hull_set", "e_above_hull_ev_per_atom"], name="stability_set_ehull"),
            models.Index(fields=["hull_set", "is_stable"], name="stability_set_stable"),
        ]

    def __str__(self) -> str:
        return f"{self.material_id} {self.hull_set}: {self.e_above_hull_ev_per_atom}"


class ElectrochemicalWindow(models.Model):
    """Range of Li chemical potential (V vs Li/Li+) over which a Li-containing phase is stable (hullapi.electrochem)."""

    material = models.ForeignKey(Material, on_delete=models.CASCADE, related_name="windows")
    hull_set = models.CharField(max_length=8, choices=HullSet.choices)
    hull_run = models.ForeignKey(HullRun, on_delete=models.CASCADE, related_name="+")
    reduction_v = models.FloatField(null=True, blank=True, help_text="Lower limit: Li is taken up below it.")
    oxidation_v = models.FloatField(null=True, blank=True, help_text="Upper limit: Li is given up above it.")
    shifted_ev_per_atom = models.FloatField(
        default=0.0, help_text="0 for a phase on the hull; else how far it was lowered onto the hull first."
    )
    reduction_products = JSONField(default=list, blank=True)
    oxidation_products = JSONField(default=list, blank=True)
    note = models.CharField(max_length=300, blank=True, help_text="Why there is no window, if there is none.")
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["material", "hull_set"], name="window_one_per_hull_set")]

    def __str__(self) -> str:
        return f"{self.material_id} {self.hull_set}: {self.reduction_v}-{self.oxidation_v} V"
