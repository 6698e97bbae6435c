"""The catalogue: materials, their energy records, elemental references and import runs."""

from __future__ import annotations

from django.db import models

from .choices import RunStatus
from .fields import JSONField


class Source(models.TextChoices):
    GNOME = "gnome", "GNoME"
    MP = "mp", "Materials Project"
    DISCOVERY = "discovery", "GNoME Explorer discovery"
    UPLOAD = "upload", "User upload"
    SCALE = "scale", "Scale test (synthetic, not real data)"


class Licence(models.TextChoices):
    CC_BY_NC_4 = "CC-BY-NC-4.0", "CC BY-NC 4.0"
    CC_BY_4 = "CC-BY-4.0", "CC BY 4.0"
    UNSPECIFIED = "unspecified", "Unspecified (user data)"


LICENCE_BY_SOURCE = {
    Source.GNOME: Licence.CC_BY_NC_4,
    Source.MP: Licence.CC_BY_4,
    Source.SCALE: Licence.CC_BY_NC_4,  # derived from GNoME structures and energies
}


class ImportRun(models.Model):
    """One run of an importer: who ran what, when, on which data, and what came of each row."""

    Status = RunStatus

    importer = models.CharField(max_length=64, help_text="Management command that ran, e.g. import_gnome.")
    dataset = models.CharField(max_length=200, help_text="Dataset name and file(s) read.")
    source = models.CharField(max_length=16, choices=Source.choices)
    options = JSONField(default=dict, blank=True)
    run_by = models.CharField(max_length=150, blank=True, help_text="Operating-system user or admin user.")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    rows_read = models.PositiveIntegerField(default=0)
    inserted = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    warnings = models.PositiveIntegerField(default=0)
    issues = JSONField(
        default=list,
        blank=True,
        help_text="Rejected rows and warnings: [{row, id, level, reason}].",
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.importer} #{self.pk} ({self.status})"

    def summary(self) -> str:
        return (
            f"{self.rows_read} rows read: {self.inserted} inserted, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.rejected} rejected, {self.warnings} warnings"
        )


class ElementalReference(models.Model):
    """Chemical potential of an element: the energy per atom its formation energies are measured from."""

    element = models.CharField(max_length=3, unique=True)
    energy_per_atom_ev = models.FloatField(help_text="Corrected total energy per atom of the reference phase, eV/atom.")
    reference_material_id = models.CharField(max_length=32, blank=True)
    dataset = models.CharField(max_length=200)
    import_run = models.ForeignKey(ImportRun, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["element"]

    def __str__(self) -> str:
        return f"{self.element}: {self.energy_per_atom_ev:.4f} eV/atom"


class Material(models.Model):
    """A crystal (or, for energy-only hull phases, a composition) in the catalogue.

    Derived fields are computed at import with pymatgen/spglib (symprec 0.1, as the Materials Project).
    The energy fields mirror the material's preferred Calculation so that filters need no join.
    """

    material_id = models.CharField(max_length=32, unique=True)
    source = models.CharField(max_length=16, choices=Source.choices, db_index=True)
    licence = models.CharField(max_length=16, choices=Licence.choices, db_index=True)

    structure = JSONField(null=True, blank=True, help_text="pymatgen Structure.as_dict(); empty for energy-only phases.")
    formula = models.CharField(max_length=200, help_text="Cell formula, e.g. 'Li4 Fe4 P4 O16'.")
    formula_reduced = models.CharField(max_length=120, db_index=True)
    formula_anonymous = models.CharField(max_length=60, db_index=True)
    chemsys = models.CharField(max_length=120, db_index=True, help_text="Sorted elements joined by '-', e.g. 'Fe-Li-O-P'.")
    elements = JSONField(help_text="Sorted element symbols.")
    nelements = models.PositiveSmallIntegerField(db_index=True)
    nsites = models.PositiveIntegerField(db_index=True)
    elements_mask_low = models.BigIntegerField(default=0, help_text="Bit mask of the elements with Z 1-63.")
    elements_mask_high = models.BigIntegerField(default=0, help_text="Bit mask of the elements with Z 64-118.")
    chemical_formula_reduced = models.CharField(
        max_length=120, blank=True, db_index=True, help_text="OPTIMADE reduced formula, elements alphabetical ('FeLiO4P')."
    )
    chemical_formula_anonymous = models.CharField(
        max_length=60, blank=True, db_index=True, help_text="OPTIMADE anonymous formula, largest amount first ('A4BCD')."
    )

    volume_a3 = models.FloatField(null=True, blank=True)
    density_g_cm3 = models.FloatField(null=True, blank=True, db_index=True)
    spacegroup_number = models.PositiveSmallIntegerField(null=True, blank=True, db_index=True)
    spacegroup_symbol = models.CharField(max_length=32, blank=True)
    crystal_system = models.CharField(max_length=16, blank=True, db_index=True)
    point_group = models.CharField(max_length=16, blank=True)
    band_gap_ev = models.FloatField(null=True, blank=True, db_index=True)
    dimensionality = models.CharField(max_length=24, blank=True, help_text="Cheon et al. dimensionality ('2D' = layered).")

    e_form_ev_per_atom = models.FloatField(null=True, blank=True, db_index=True)
    energy_corrected_ev = models.FloatField(
        null=True, blank=True, help_text="MP2020-compatible corrected total energy of the cell, eV."
    )
    energy_method = models.CharField(max_length=80, blank=True, help_text="Method of the energies above.")
    energy_note = models.CharField(max_length=300, blank=True, help_text="Why an energy is missing, if it is.")

    dataset = models.CharField(max_length=200, help_text="Dataset the record came from.")
    dataset_version = models.CharField(max_length=60, blank=True)
    extra = JSONField(default=dict, blank=True, help_text="Published values kept as given by the dataset.")
    row_hash = models.CharField(max_length=64, help_text="Hash of the source row; an unchanged row is skipped.")
    import_run = models.ForeignKey(ImportRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="materials")
    imported_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["material_id"]
        indexes = [
            models.Index(fields=["chemsys", "e_form_ev_per_atom"], name="material_chemsys_eform"),
            models.Index(fields=["source", "material_id"], name="material_source_id"),
            # narrow covering index: element filters (bit tests) scan it instead of the wide table
            models.Index(fields=["elements_mask_low", "elements_mask_high", "material_id"], name="material_element_masks"),
            # crystals only, in id order (OPTIMADE serves structures; the energy-only hull phases have none):
            # pages walk it in order and test the elements without reading the table
            models.Index(fields=["material_id", "elements_mask_low", "elements_mask_high", "nelements", "nsites"],
                         name="material_crystals", condition=models.Q(structure__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.material_id} {self.formula_reduced}"

    @property
    def has_structure(self) -> bool:
        return self.structure is not None

    def get_structure(self):
        from pymatgen.core import Structure

        return Structure.from_dict(self.structure) if self.structure is not None else None


class Calculation(models.Model):
    """One energy record of a material (imported DFT, a model's relaxation, a user's own value)."""

    class Kind(models.TextChoices):
        DFT = "dft", "DFT"
        MODEL = "model", "Machine-learned model"
        USER = "user", "User supplied"
        SYNTHETIC = "synthetic", "Synthetic (scale test, not a calculation)"

    material = models.ForeignKey(Material, on_delete=models.CASCADE, related_name="calculations")
    method = models.CharField(max_length=80, help_text="e.g. 'GNoME PBE/PBE+U', 'CHGNet 0.3.0 relax'.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    energy_ev = models.FloatField(null=True, blank=True, help_text="Total energy of the cell as published, eV.")
    energy_corrected_ev = models.FloatField(null=True, blank=True, help_text="Corrected total energy (the hull's), eV.")
    correction_ev = models.FloatField(null=True, blank=True, help_text="Correction this project applied, eV.")
    correction_scheme = models.CharField(max_length=600, blank=True)
    e_form_ev_per_atom = models.FloatField(null=True, blank=True)
    energy_note = models.CharField(max_length=300, blank=True)
    structure = JSONField(null=True, blank=True, help_text="Relaxed structure, when the record has one.")
    import_run = models.ForeignKey(ImportRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="calculations")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["material_id", "method"]
        constraints = [models.UniqueConstraint(fields=["material", "method"], name="calculation_one_per_method")]

    def __str__(self) -> str:
        return f"{self.material.material_id} {self.method}"


class ScreenRun(models.Model):
    """One run of a screen (materials.screens): its criteria and the count at every stage."""

    Status = RunStatus

    screen = models.CharField(max_length=32, db_index=True)
    criteria = JSONField(default=dict)
    stages = JSONField(default=list, help_text="[{name, description, input, passed, failed, unknown, output}]")
    summary = JSONField(default=dict, blank=True, help_text="Outcome counts, candidates by source.")
    hull_version = models.PositiveIntegerField(null=True, blank=True, help_text="Hull run the stabilities came from.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.screen} #{self.pk} ({self.status})"


class ScreenResult(models.Model):
    """Where one material got in the latest run of a screen (materials past the first stage only)."""

    run = models.ForeignKey(ScreenRun, on_delete=models.CASCADE, related_name="results")
    material = models.ForeignKey(Material, on_delete=models.CASCADE, related_name="screen_results")
    outcome = models.CharField(max_length=16, help_text="candidate, unknown (passed with unknowns) or failed.")
    failed_stage = models.CharField(max_length=40, blank=True)
    stages = JSONField(default=list, help_text="[{stage, result: pass|fail|unknown, why}] in funnel order")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "material"], name="screen_result_one_per_run")]
        indexes = [models.Index(fields=["run", "outcome"], name="screen_result_run_outcome")]


class Fingerprint(models.Model):
    """A crystal's structure fingerprint (``materials.fingerprint``): what "similar materials" are found by.

    Stored compactly as float32 bytes; a row of another ``version`` than the code's is out of date and is
    recomputed by ``manage.py compute_fingerprints``. Searched in memory (``materials.similarity``): PostgreSQL
    here has no vector extension (pgvector is not installed on this machine kind).
    """

    material = models.OneToOneField(Material, primary_key=True, on_delete=models.CASCADE, related_name="fingerprint")
    version = models.CharField(max_length=32, db_index=True, help_text="Definition of the vector, e.g. 'gnx-rdf-1'.")
    vector = models.BinaryField(help_text="Little-endian float32 values (materials.fingerprint.DIMENSION of them).")
    computed_at = models.DateTimeField(db_index=True, help_text="When it was written; the search index follows it.")

    def __str__(self) -> str:
        return f"{self.material_id} {self.version}"
