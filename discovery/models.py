"""Discovery: the trained models (rounds and candidates come with the discovery issues)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from materials.choices import CancellableRunStatus, PausableRunStatus, QueuedRunStatus, RunStatus
from materials.fields import JSONField


class ModelCheckpoint(models.Model):
    """A trained GNN ensemble: where its members are, what it was trained on, how it scores."""

    Status = RunStatus

    name = models.CharField(max_length=100)
    path = models.CharField(max_length=500, help_text="Directory holding member-*.pt.")
    architecture = JSONField(default=dict, help_text="GNNConfig of the members.")
    training = JSONField(default=dict, help_text="TrainConfig and the data it used.")
    data_hash = models.CharField(max_length=32, blank=True)
    n_train = models.PositiveIntegerField(default=0)
    n_test = models.PositiveIntegerField(default=0)
    metrics = JSONField(default=dict, blank=True, help_text="Test MAE per member and of the ensemble, eV/atom.")
    hardware = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    progress = models.CharField(max_length=200, blank=True, help_text="Member and epoch, while training.")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    wall_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    active = models.BooleanField(default=False, help_text="The ensemble discovery rounds screen with.")

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk} ({self.status})"


class Campaign(models.Model):
    """Active learning, round after round: each round generates from the catalogue and the campaign's earlier
    discoveries, screens with the campaign's current ensemble, evaluates both arms, updates the hull, and then
    fine-tunes the ensemble on everything evaluated so far (kept only if it screens better)."""

    Status = PausableRunStatus

    name = models.CharField(max_length=100, blank=True)
    config = JSONField(default=dict, help_text="Rounds, the settings of each round, the base ensemble, what the "
                                               "ensemble is fine-tuned on and how.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    progress = models.CharField(max_length=200, blank=True)
    base_checkpoint = models.ForeignKey(ModelCheckpoint, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+", help_text="The ensemble the first round screens with "
                                                                    "(empty: the released one).")
    current_checkpoint = models.ForeignKey(ModelCheckpoint, null=True, blank=True, on_delete=models.SET_NULL,
                                           related_name="+", help_text="The ensemble the next round screens with "
                                                                       "(empty: the released one).")
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"campaign #{self.pk} {self.name} ({self.status})"


class DiscoveryRound(models.Model):
    """One turn of the GNoME flywheel: generate, screen with the ensemble, select, evaluate, ingest, update the
    hull, measure. ``stage`` is the last stage finished; a resumed round starts from the next one."""

    Status = CancellableRunStatus

    class Stage(models.TextChoices):
        CREATED = "created", "Created"
        GENERATED = "generated", "Candidates generated"
        SCREENED = "screened", "Candidates screened"
        SELECTED = "selected", "Candidates selected"
        EVALUATED = "evaluated", "Candidates evaluated"
        INGESTED = "ingested", "Materials stored"
        HULL = "hull", "Hull updated"
        MEASURED = "measured", "Metrics recorded"
        RETRAINED = "retrained", "Ensemble retrained"

    name = models.CharField(max_length=100, blank=True)
    config = JSONField(default=dict, help_text="Chemical systems or seeds, generators, budgets, threshold, evaluator.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.CREATED)
    progress = models.CharField(max_length=200, blank=True, help_text="What the round is doing now.")
    counts = JSONField(default=dict, blank=True, help_text="Candidates per stage.")
    metrics = JSONField(default=dict, blank=True, help_text="Hit rate, prevalence, DAF, model MAE, new stable materials.")
    timings = JSONField(default=dict, blank=True, help_text="Wall seconds per stage.")
    checkpoint = models.ForeignKey(ModelCheckpoint, null=True, blank=True, on_delete=models.SET_NULL,
                                   help_text="The ensemble that screened (empty: the released one).")
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="rounds")
    campaign_index = models.PositiveIntegerField(null=True, blank=True, help_text="1 for a campaign's first round.")
    created_by = models.CharField(max_length=150, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["campaign", "campaign_index"], name="round_one_per_index")]

    def __str__(self) -> str:
        return f"round #{self.pk} {self.name} ({self.status}, {self.stage})"


class Candidate(models.Model):
    """A generated crystal of a round: how it was made, what the ensemble predicted, what the evaluator found."""

    class Arm(models.TextChoices):
        NONE = "", "Not chosen"
        FILTERED = "filtered", "Selected by the model"
        CONTROL = "control", "Random control (unfiltered)"

    class Evaluation(models.TextChoices):
        NONE = "", "Not evaluated"
        DONE = "done", "Evaluated"
        FAILED = "failed", "Evaluation failed"

    round = models.ForeignKey(DiscoveryRound, on_delete=models.CASCADE, related_name="candidates")
    key = models.CharField(max_length=16, help_text="Hash of the structure: the idempotency key within the round.")
    method = models.CharField(max_length=16, db_index=True)
    parent = models.CharField(max_length=64, help_text="Seed material id, or the reduced formula for random structures.")
    detail = JSONField(default=dict, blank=True)
    formula_reduced = models.CharField(max_length=120, db_index=True)
    chemsys = models.CharField(max_length=120)
    nsites = models.PositiveIntegerField()
    structure = JSONField(help_text="pymatgen Structure.as_dict() as generated (unrelaxed).")
    # the ensemble's prediction (a model's, never DFT)
    e_form_pred_ev_per_atom = models.FloatField(null=True, blank=True)
    e_form_iqr_ev_per_atom = models.FloatField(null=True, blank=True)
    e_above_hull_pred_ev_per_atom = models.FloatField(null=True, blank=True, db_index=True)
    screen_error = models.CharField(max_length=300, blank=True)
    screened = models.BooleanField(default=False, db_index=True)
    hull_completeness = JSONField(
        default=dict, blank=True,
        help_text="When it was judged (at screening, before the round added anything): which binary subsystems "
                  "of its system hold a compound on the 'all' hull ({binaries, covered, missing, complete}).")
    arm = models.CharField(max_length=8, choices=Arm.choices, blank=True, default="", db_index=True)
    # the evaluator's result
    evaluation = models.CharField(max_length=8, choices=Evaluation.choices, blank=True, default="", db_index=True)
    evaluator = models.CharField(max_length=120, blank=True)
    energy_ev = models.FloatField(null=True, blank=True, help_text="Corrected total energy of the relaxed cell, eV.")
    e_form_ev_per_atom = models.FloatField(null=True, blank=True)
    e_above_hull_ev_per_atom = models.FloatField(null=True, blank=True, help_text="Against the hull after the round.")
    is_stable = models.BooleanField(null=True, blank=True)
    relaxed_structure = JSONField(null=True, blank=True)
    evaluation_detail = JSONField(default=dict, blank=True, help_text="Converged, steps, seconds, correction.")
    material = models.ForeignKey("materials.Material", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="discovery_candidates")

    class Meta:
        ordering = ["round_id", "pk"]
        constraints = [models.UniqueConstraint(fields=["round", "key"], name="candidate_one_per_key")]
        indexes = [models.Index(fields=["round", "screened"], name="candidate_round_screened"),
                   models.Index(fields=["round", "arm", "evaluation"], name="candidate_round_arm_eval")]

    def __str__(self) -> str:
        return f"{self.formula_reduced} ({self.method} of {self.parent}, round {self.round_id})"


class TrainingBatch(models.Model):
    """A ``make_training_candidates`` job: candidates generated from the training split's crystals and evaluated,
    to teach the screening model what unrelaxed candidates become (no discovery round needed)."""

    Status = RunStatus

    name = models.CharField(max_length=100, blank=True)
    config = JSONField(default=dict, help_text="Seeds, generators, size limits, evaluator and its settings.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    progress = models.CharField(max_length=200, blank=True)
    counts = JSONField(default=dict, blank=True, help_text="Seeds used, candidates made, evaluated, failed.")
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"training batch #{self.pk} {self.name} ({self.status})"


class TrainingExample(models.Model):
    """One evaluated candidate as training data for the screening model: the structure as it was screened
    (unrelaxed), the relaxed structure and the evaluator's energy on the hull's scale, with the method that made
    it. Both arms of a round and the bootstrap batches land here, stable or not, converged or not."""

    class Origin(models.TextChoices):
        BOOTSTRAP = "bootstrap", "make_training_candidates"
        ROUND = "round", "Discovery round"
        IMPORTED = "imported", "Imported file"

    class Split(models.TextChoices):
        TRAIN = "train", "Training"
        VALIDATION = "validation", "Validation (activation decisions)"
        TEST = "test", "Test (reported figures)"

    class Status(models.TextChoices):
        PENDING = "pending", "Not evaluated yet"
        DONE = "done", "Evaluated"
        FAILED = "failed", "Evaluation failed"

    key = models.CharField(max_length=16, help_text="Hash of the structure as screened.")
    origin = models.CharField(max_length=16, choices=Origin.choices)
    batch = models.ForeignKey(TrainingBatch, null=True, blank=True, on_delete=models.CASCADE, related_name="examples")
    candidate = models.ForeignKey(Candidate, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="training_examples")
    generator = models.CharField(max_length=16, help_text="substitution, saps, neighbour ...")
    parent = models.CharField(max_length=64, help_text="Seed material id.")
    parent_formula = models.CharField(max_length=120, help_text="Reduced formula of the seed: the split's key.")
    detail = JSONField(default=dict, blank=True)
    formula_reduced = models.CharField(max_length=120, db_index=True)
    chemsys = models.CharField(max_length=120)
    nsites = models.PositiveIntegerField()
    split = models.CharField(max_length=12, choices=Split.choices, db_index=True)
    structure = JSONField(help_text="pymatgen Structure.as_dict() as screened (unrelaxed).")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    # the evaluator's result: a machine-learned potential's energy unless the method says otherwise
    method = models.CharField(max_length=160, blank=True, help_text="The evaluator's method, e.g. 'CHGNet 0.3.0 relax ...'.")
    fidelity = models.CharField(max_length=40, blank=True, help_text="The evaluator family the model learns apart.")
    relaxed_structure = JSONField(null=True, blank=True)
    energy_ev = models.FloatField(null=True, blank=True, help_text="Corrected total energy of the relaxed cell, eV.")
    energy_raw_ev = models.FloatField(null=True, blank=True)
    e_form_ev_per_atom = models.FloatField(null=True, blank=True)
    e_above_hull_ev_per_atom = models.FloatField(
        null=True, blank=True, help_text="Against the 'all' hull when it was judged (without itself).")
    converged = models.BooleanField(null=True, blank=True)
    steps = models.PositiveIntegerField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["key", "batch"], name="example_one_per_batch"),
                       models.UniqueConstraint(fields=["key", "method"], condition=~models.Q(method=""),
                                               name="example_one_per_structure_and_method")]

    def __str__(self) -> str:
        return f"{self.formula_reduced} ({self.generator} of {self.parent}, {self.split}, {self.status})"


class MDStudy(models.Model):
    """Molecular dynamics of chosen materials with a universal potential, for their Li-ion conductivity."""

    Status = QueuedRunStatus

    name = models.CharField(max_length=120, blank=True)
    settings = JSONField(default=dict, help_text="discovery.md.simulation.MDSettings, without the temperature.")
    temperatures_k = JSONField(default=list, help_text="Temperatures run for every material, K.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-pk"]
        verbose_name = "MD study"
        verbose_name_plural = "MD studies"

    def __str__(self) -> str:
        return f"MD study #{self.pk} {self.name} ({self.status})"


class MDRun(models.Model):
    """One material at one temperature: the run's progress, where its files are, and its analysis."""

    study = models.ForeignKey(MDStudy, on_delete=models.CASCADE, related_name="runs")
    material = models.ForeignKey("materials.Material", on_delete=models.CASCADE, related_name="md_runs")
    temperature_k = models.FloatField()
    status = models.CharField(max_length=16, choices=MDStudy.Status.choices, default=MDStudy.Status.QUEUED)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    atoms = models.PositiveIntegerField(null=True, blank=True, help_text="Atoms in the simulated supercell.")
    directory = models.CharField(max_length=300, blank=True, help_text="Trajectory and checkpoint (under GNOME_MD_DIR).")
    result = JSONField(default=dict, blank=True, help_text="Diffusivity, conductivity, MSD curve, verdict.")
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    wall_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["study_id", "material_id", "temperature_k"]
        constraints = [models.UniqueConstraint(fields=["study", "material", "temperature_k"],
                                               name="md_run_one_per_temperature")]
        verbose_name = "MD run"

    def __str__(self) -> str:
        return f"MD run #{self.pk} {self.material_id} {self.temperature_k:.0f} K ({self.status})"


class RelaxJob(models.Model):
    """A staff user's request to relax an uploaded crystal with the default evaluator (``discovery.predicting``):
    the relaxed energy and its place on both hulls. A machine-learned potential's energy unless the method says
    otherwise; nothing enters the catalogue."""

    Status = QueuedRunStatus

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    structure = JSONField(help_text="pymatgen Structure.as_dict() as uploaded (unrelaxed).")
    formula_reduced = models.CharField(max_length=120)
    nsites = models.PositiveIntegerField()
    evaluator = models.CharField(max_length=40, help_text="Evaluator name, e.g. 'chgnet'.")
    method = models.CharField(max_length=160, blank=True, help_text="The evaluator's method, e.g. 'CHGNet 0.3.0 relax "
                                                                    "(FIRE, fmax 0.05 eV/Å, ...)'.")
    result = JSONField(default=dict, blank=True, help_text="Relaxed energy (eV), formation energy (eV/atom), hull "
                                                           "placement on both hulls, relaxed structure.")
    error = models.TextField(blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="relax_jobs")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        verbose_name = "relaxation job"

    def __str__(self) -> str:
        return f"relaxation #{self.pk} {self.formula_reduced} ({self.status})"
