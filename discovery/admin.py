from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html, format_html_join

from materials import screens
from materials.admin import ReadOnlyMixin

from . import campaigns, conductivity, rounds, tasks
from .evaluation import EVALUATORS
from .models import (
    Campaign,
    Candidate,
    DiscoveryRound,
    MDRun,
    MDStudy,
    ModelCheckpoint,
    RelaxJob,
    TrainingBatch,
    TrainingExample,
)


@admin.register(ModelCheckpoint)
class ModelCheckpointAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("pk", "name", "status", "progress", "active", "n_train", "n_test", "test_mae", "screening_mae",
                    "decision", "hardware", "started_at", "wall_seconds")
    list_filter = ("status", "active")
    actions = ["train_new_ensemble", "finetune_on_evaluations", "activate"]
    readonly_fields = ("screening_table",)

    @admin.display(description="DFT test MAE (eV/atom, no TTA)")
    def test_mae(self, obj):
        value = (obj.metrics or {}).get("test_mae_ensemble_no_tta")
        return f"{value:.4f}" if value is not None else "—"

    @admin.display(description="validation screening MAE (eV/atom, vs the potential)")
    def screening_mae(self, obj):
        new = (obj.metrics or {}).get("new") or {}
        value = new.get("validation_mae")
        return f"{value:.4f} ({'TTA' if new.get('screen_tta') else 'no TTA'})" if value is not None else "—"

    @admin.display(description="activation decision")
    def decision(self, obj):
        decision = (obj.metrics or {}).get("decision")
        if not decision:
            return "—"
        return ("activate: " if decision["activate"] else "keep the base: ") + "; ".join(decision["reasons"])

    @admin.display(description="screening figures, base against new (validation candidates; energies of the "
                               "evaluator, a machine-learned potential)")
    def screening_table(self, obj):
        m = obj.metrics or {}
        if "new" not in m:
            return "—"
        rows = []
        for label in ("base", "new"):
            for mode in ("no_tta", "tta"):
                f = (m[label] or {}).get(mode)
                if not f:
                    continue
                t = f["at_threshold"]
                rows.append((label, mode.replace("_", " "), f"{m[label]['dft_test_mae']:.4f}", f["n"],
                             f"{f['mae_ev_per_atom']:.4f}", f"{f['bias_ev_per_atom']:+.4f}", _pct(t["precision"]),
                             _pct(t["recall"]), "—" if t["f1"] is None else f"{t['f1']:.3f}", _pct(t["prevalence"]),
                             "—" if t["daf"] is None else f"{t['daf']:.2f}"))
        head = format_html("<tr>{}</tr>", format_html_join("", "<th>{}</th>", (
            (h,) for h in ("ensemble", "TTA", "DFT test MAE", "n", "MAE", "bias", "precision", "recall", "F1",
                           "prevalence", "DAF"))))
        body = format_html_join("", "<tr>" + "<td>{}</td>" * 11 + "</tr>", rows)
        return format_html("<table>{}{}</table>", head, body)

    @admin.action(description="Fine-tune the active ensemble on DFT + evaluated candidates (Celery; activated "
                              "only if it screens better)")
    def finetune_on_evaluations(self, request, queryset):
        tasks.finetune_gnn.delay(name="fine-tuned from the admin")
        self.message_user(request, "Started a fine-tuning run: it appears in this list", messages.SUCCESS)

    @admin.action(description="Activate (rounds screen with it)")
    def activate(self, request, queryset):
        chosen = list(queryset.filter(status=ModelCheckpoint.Status.SUCCEEDED)[:1])
        if not chosen:
            self.message_user(request, "Choose a checkpoint that succeeded", messages.ERROR)
            return
        checkpoint = chosen[0]
        decision = (checkpoint.metrics or {}).get("decision")
        if decision and not decision["activate"]:
            self.message_user(request, f"{checkpoint} screens no better than its base: " + "; ".join(decision["reasons"]),
                              messages.ERROR)
            return
        kind = (checkpoint.architecture or {}).get("kind", "structure")
        with transaction.atomic():
            ModelCheckpoint.objects.filter(architecture__kind=kind).update(active=False)
            ModelCheckpoint.objects.filter(pk=checkpoint.pk).update(active=True)
        self.message_user(request, f"{checkpoint} is active", messages.SUCCESS)

    @admin.action(description="Train a new ensemble with the same settings (Celery)")
    def train_new_ensemble(self, request, queryset):
        for checkpoint in queryset:
            arch, training = checkpoint.architecture or {}, checkpoint.training or {}
            tasks.train_gnn.delay(width=arch.get("embedding_dim", 64), steps=arch.get("steps", 3),
                                  epochs=training.get("epochs", 60), batch_size=training.get("batch_size", 64),
                                  learning_rate=training.get("learning_rate", 2e-3), name=checkpoint.name,
                                  kind=arch.get("kind", "structure"))
        self.message_user(request, f"Started {queryset.count()} training run(s)", messages.SUCCESS)


class DiscoveryRoundForm(forms.ModelForm):
    """The start form: what a round generates from, how much, and how it screens and evaluates."""

    chemsys = forms.CharField(required=False, help_text="Seed chemical systems, comma-separated (e.g. Li-P-S, Li-Mn-O): "
                              "their stable crystals are the seeds.")
    seeds = forms.CharField(required=False, help_text="And/or seed material ids, comma-separated.")
    generators = forms.MultipleChoiceField(choices=[("substitution", "Ionic substitution"),
                                                    ("saps", "SAPS (partial substitution)"),
                                                    ("neighbour", "Element swaps (same group, no oxidation states)")],
                                           initial=["substitution", "saps"], widget=forms.CheckboxSelectMultiple)
    candidate_budget = forms.IntegerField(min_value=1, initial=rounds.DEFAULTS["candidate_budget"])
    max_seeds = forms.IntegerField(min_value=1, initial=rounds.DEFAULTS["max_seeds"])
    threshold_ev_per_atom = forms.FloatField(initial=rounds.DEFAULTS["threshold_ev_per_atom"],
                                             help_text="Keep candidates predicted below this, eV/atom above the 'all' hull.")
    evaluation_budget = forms.IntegerField(min_value=1, initial=rounds.DEFAULTS["evaluation_budget"])
    control_fraction = forms.FloatField(min_value=0, max_value=1, initial=rounds.DEFAULTS["control_fraction"],
                                        help_text="Random unfiltered candidates evaluated as a control, "
                                                  "share of the budget.")
    evaluator = forms.ChoiceField(choices=[(name, f"{cls.label} (potential)") for name, cls in EVALUATORS.items()])
    precision = forms.ChoiceField(choices=[("float32", "float32 (reference)"),
                                           ("bfloat16", "bfloat16 (1.4x faster on CPUs with AVX-512 BF16)")],
                                  initial="float32", help_text="Of the GNN at screening.")
    fmax = forms.FloatField(min_value=0.001, initial=rounds.DEFAULTS["fmax"], help_text="eV/Å")
    max_steps = forms.IntegerField(min_value=0, initial=rounds.DEFAULTS["max_steps"])
    cluster = forms.BooleanField(required=False, help_text="StructureMatcher deduplication while generating.")
    retrain = forms.BooleanField(required=False, help_text="Fine-tune the active ensemble on every evaluation afterwards "
                                 "(minutes on a CPU); activated only if it screens better.")
    random_seed = forms.IntegerField(initial=0)
    volume = forms.ChoiceField(choices=[("seed", "the seed's cell, unrelaxed"),
                                        ("rescaled", "scaled to the new species' radii")],
                               initial=rounds.DEFAULTS["volume"], required=False,
                               help_text="Cells of substituted candidates (rescaled: measured to screen better).")
    sign_change = forms.BooleanField(required=False, help_text="Allow a cation to be replaced by an anion or back.")
    allow_elements = forms.CharField(required=False, help_text="Elements without a stable isotope a generator may "
                                     "bring in, comma-separated (Tc, Pm, Po onwards are off otherwise).")

    class Meta:
        model = DiscoveryRound
        fields = ["name"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        config = {k: data[k] for k in ("generators", "candidate_budget", "max_seeds", "threshold_ev_per_atom",
                                       "evaluation_budget", "control_fraction", "evaluator", "precision", "fmax",
                                       "max_steps", "cluster", "retrain", "random_seed", "sign_change")}
        config["volume"] = data.get("volume") or rounds.DEFAULTS["volume"]
        config["allow_elements"] = _listed(data.get("allow_elements"))
        config["chemsys"] = _listed(data.get("chemsys"))
        config["seeds"] = _listed(data.get("seeds"))
        try:
            self.instance.config = rounds.validate_config(config)
        except rounds.RoundError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


class CandidateInline(ReadOnlyMixin, admin.TabularInline):
    model = Candidate
    fields = ("formula_reduced", "method", "parent", "arm", "e_form_pred_ev_per_atom", "e_above_hull_pred_ev_per_atom",
              "evaluation", "e_form_ev_per_atom", "e_above_hull_ev_per_atom", "is_stable", "material")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "evaluated candidates (predicted: GNN ensemble; evaluated: the evaluator, a potential)"

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(arm="").select_related("material")


class StartThenReadOnly:
    """An admin whose add form starts a job (a round, a study) and whose change page only shows it."""

    def get_inlines(self, request, obj=None):
        return [] if obj is None else self.inlines

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)


@admin.register(DiscoveryRound)
class DiscoveryRoundAdmin(StartThenReadOnly, admin.ModelAdmin):
    form = DiscoveryRoundForm
    list_display = ("pk", "name", "status", "stage", "progress", "generated", "evaluated", "hit_rate", "prevalence",
                    "daf", "created_at")
    list_filter = ("status", "stage")
    actions = ["cancel_rounds", "resume_rounds"]
    inlines = [CandidateInline]
    change_form_template = "admin/discovery/discoveryround/change_form.html"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "chemsys", "seeds", "generators", "candidate_budget", "max_seeds", "threshold_ev_per_atom",
                    "evaluation_budget", "control_fraction", "evaluator", "precision", "fmax", "max_steps", "cluster",
                    "retrain", "random_seed", "volume", "sign_change", "allow_elements"]
        return ["name", "status", "stage", "progress", "counts_table", "metrics_table", "timings", "config",
                "created_by", "created_at", "started_at", "finished_at", "error"]

    def save_model(self, request, obj, form, change):
        if change:
            return
        from .training import active_checkpoint

        obj.created_by = request.user.get_username()
        obj.checkpoint = active_checkpoint("structure")
        super().save_model(request, obj, form, change)
        transaction.on_commit(lambda: tasks.advance_round.delay(obj.pk))
        self.message_user(request, f"Round {obj.pk} queued: watch its stage and counts here.", messages.SUCCESS)

    @admin.display(description="generated")
    def generated(self, obj):
        return obj.counts.get("generated", "—")

    @admin.display(description="evaluated")
    def evaluated(self, obj):
        return obj.counts.get("evaluated", "—")

    @admin.display(description="hit rate")
    def hit_rate(self, obj):
        return _pct(obj.metrics.get("hit_rate"))

    @admin.display(description="prevalence")
    def prevalence(self, obj):
        return _pct(obj.metrics.get("prevalence"))

    @admin.display(description="DAF")
    def daf(self, obj):
        value = obj.metrics.get("daf")
        return "—" if value is None else f"{value:.2f}"

    @admin.display(description="counts")
    def counts_table(self, obj):
        return _table(obj.counts)

    @admin.display(description="metrics (energies: evaluator = machine-learned potential, not DFT)")
    def metrics_table(self, obj):
        return _table({k: v for k, v in obj.metrics.items() if k != "new_stable"})

    @admin.action(description="Cancel the selected rounds")
    def cancel_rounds(self, request, queryset):
        n = sum(rounds.cancel(r.pk) for r in queryset)
        self.message_user(request, f"Cancelled {n} round(s)", messages.SUCCESS)

    @admin.action(description="Resume the selected rounds from their last finished stage")
    def resume_rounds(self, request, queryset):
        resumable = [r for r in queryset if r.status in {DiscoveryRound.Status.FAILED, DiscoveryRound.Status.RUNNING,
                                                         DiscoveryRound.Status.PENDING}]
        for rnd in resumable:
            DiscoveryRound.objects.filter(pk=rnd.pk).update(status=DiscoveryRound.Status.RUNNING, error="")
            tasks.advance_round.delay(rnd.pk)
        self.message_user(request, f"Resumed {len(resumable)} round(s)", messages.SUCCESS)


class CampaignForm(forms.ModelForm):
    """The start form of a campaign: the chemical space, how many rounds of what size, and how the ensemble learns."""

    round_count = forms.IntegerField(label="Rounds", min_value=1, max_value=campaigns.MAX_ROUNDS,
                                     initial=campaigns.DEFAULTS["rounds"])
    chemsys = forms.CharField(required=False, help_text="Seed chemical systems, comma-separated (e.g. Li-S, Li-O, "
                              "Li-Cl): their stable crystals are the seeds; the earlier rounds' new stable crystals "
                              "join them.")
    seeds = forms.CharField(required=False, help_text="And/or seed material ids, comma-separated.")
    generators = DiscoveryRoundForm.base_fields["generators"]
    candidate_budget = forms.IntegerField(min_value=1, initial=2000, help_text="Candidates generated per round.")
    max_seeds = forms.IntegerField(min_value=1, initial=rounds.DEFAULTS["max_seeds"])
    threshold_ev_per_atom = DiscoveryRoundForm.base_fields["threshold_ev_per_atom"]
    evaluation_budget = forms.IntegerField(min_value=1, initial=rounds.DEFAULTS["evaluation_budget"],
                                           help_text="Candidates of the model's arm evaluated per round.")
    control_fraction = forms.FloatField(min_value=0.05, max_value=1, initial=rounds.DEFAULTS["control_fraction"],
                                        help_text="Random unfiltered candidates evaluated per round as a control, share "
                                                  "of the budget: large enough for the DAF's interval to say something.")
    evaluator = DiscoveryRoundForm.base_fields["evaluator"]
    max_steps = forms.IntegerField(min_value=0, initial=rounds.DEFAULTS["max_steps"])
    random_seed = forms.IntegerField(initial=0, help_text="Of round 1; round k uses this + k - 1.")
    base = forms.ChoiceField(choices=[("released", "the released ensemble"),
                                      ("catalogue-only", "catalogue-only (DFT crystals only: the flywheel from its start)"),
                                      ("active", "the active ensemble")], initial=campaigns.DEFAULTS["base"])
    training = forms.ChoiceField(choices=[("all", "every evaluated candidate in the database"),
                                          ("campaign", "only the campaign's own evaluations")],
                                 initial=campaigns.DEFAULTS["training"], help_text="What each fine-tune learns from.")
    finetune_epochs = forms.IntegerField(min_value=1, initial=campaigns.DEFAULTS["finetune_epochs"])
    adopt = forms.ChoiceField(choices=[("if-better", "if it screens the validation candidates better and is not worse "
                                                     "on DFT"), ("always", "always (the newest ensemble screens)")],
                              initial=campaigns.DEFAULTS["adopt"], help_text="When a fine-tuned ensemble screens the "
                                                                             "next round.")
    dft_limit = forms.IntegerField(required=False, min_value=100, help_text="Catalogue structures replayed while "
                                   "fine-tuning (empty: all; fewer is faster).")

    class Meta:
        model = Campaign
        fields = ["name"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        round_config = {k: data[k] for k in ("generators", "candidate_budget", "max_seeds", "threshold_ev_per_atom",
                                             "evaluation_budget", "control_fraction", "evaluator", "max_steps",
                                             "random_seed")}
        round_config.update(chemsys=_listed(data.get("chemsys")), seeds=_listed(data.get("seeds")))
        config = {"rounds": data["round_count"], "round": round_config, "base": data["base"], "training": data["training"],
                  "finetune_epochs": data["finetune_epochs"], "dft_limit": data.get("dft_limit"),
                  "adopt": data["adopt"]}
        try:
            self.instance.config = campaigns.validate_campaign_config(config)
        except campaigns.CampaignError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


class CampaignRoundInline(ReadOnlyMixin, admin.TabularInline):
    model = DiscoveryRound
    fields = ("campaign_index", "status", "stage", "progress", "hit_rate", "prevalence", "daf", "fine_tune")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "rounds (energies: the evaluator, a machine-learned potential, not DFT)"

    @admin.display(description="hit rate [95 %] (stable/evaluated)")
    def hit_rate(self, obj):
        m = obj.metrics or {}
        return _with_ci(m.get("hit_rate"), m.get("hit_rate_ci95"), m.get("stable_filtered"), m.get("evaluated_filtered"))

    @admin.display(description="prevalence [95 %] (stable/evaluated)")
    def prevalence(self, obj):
        m = obj.metrics or {}
        return _with_ci(m.get("prevalence"), m.get("prevalence_ci95"), m.get("stable_control"),
                        m.get("evaluated_control"))

    @admin.display(description="DAF [95 %]")
    def daf(self, obj):
        m = obj.metrics or {}
        value, ci = m.get("daf"), m.get("daf_ci95")
        return ("—" if value is None else f"{value:.2f}") + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")

    @admin.display(description="fine-tune after the round")
    def fine_tune(self, obj):
        t = (obj.metrics or {}).get("retrained")
        if not t:
            return "—"
        if t.get("checkpoint_id") is None:
            return f"skipped: {t.get('skipped')}"
        mae = t.get("test_mae_ev_per_atom")
        return (f"{t.get('candidates_trained')} candidates, test MAE {'—' if mae is None else f'{mae:.4f}'}: "
                + ("screens the next round" if t.get("activated") else "kept the previous ensemble"))


@admin.register(Campaign)
class CampaignAdmin(StartThenReadOnly, admin.ModelAdmin):
    form = CampaignForm
    list_display = ("pk", "name", "status", "progress", "rounds_done", "current_checkpoint", "created_at")
    list_filter = ("status",)
    actions = ["pause_campaigns", "resume_campaigns", "cancel_campaigns"]
    inlines = [CampaignRoundInline]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "round_count", "chemsys", "seeds", "generators", "candidate_budget", "max_seeds",
                    "threshold_ev_per_atom", "evaluation_budget", "control_fraction", "evaluator", "max_steps",
                    "random_seed", "base", "training", "finetune_epochs", "adopt", "dft_limit"]
        return ["name", "status", "progress", "config", "base_checkpoint", "current_checkpoint", "created_by",
                "created_at", "started_at", "finished_at", "error"]

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = campaigns.create_campaign(obj.config, name=obj.name, user=request.user.get_username())
        obj.pk = created.pk
        transaction.on_commit(lambda: tasks.advance_campaign.delay(created.pk))
        self.message_user(request, f"Campaign {created.pk} queued: its rounds appear here as they start.",
                          messages.SUCCESS)

    def save_related(self, request, form, formsets, change):
        pass  # the campaign has no inline to save at creation

    @admin.display(description="rounds done")
    def rounds_done(self, obj):
        done = obj.rounds.filter(status=DiscoveryRound.Status.SUCCEEDED).count()
        return f"{done} of {obj.config.get('rounds')}"

    @admin.action(description="Pause (the running round finishes, no other starts)")
    def pause_campaigns(self, request, queryset):
        n = sum(campaigns.pause(c.pk) for c in queryset)
        self.message_user(request, f"Paused {n} campaign(s)", messages.SUCCESS)

    @admin.action(description="Resume where they stopped (a failed round is retried)")
    def resume_campaigns(self, request, queryset):
        resumed = [c.pk for c in queryset if campaigns.resume(c.pk)]
        for pk in resumed:
            transaction.on_commit(lambda pk=pk: tasks.advance_campaign.delay(pk))
        self.message_user(request, f"Resumed {len(resumed)} campaign(s)", messages.SUCCESS)

    @admin.action(description="Cancel (and the running round)")
    def cancel_campaigns(self, request, queryset):
        n = sum(campaigns.cancel(c.pk) for c in queryset)
        self.message_user(request, f"Cancelled {n} campaign(s)", messages.SUCCESS)


def _listed(text: str | None) -> list[str]:
    """The items of a comma-separated form field, stripped, empty ones dropped."""
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def _with_ci(value, ci, hits, n) -> str:
    if value is None:
        return "—"
    return (f"{100 * value:.1f}%" + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")
            + f" ({hits}/{n})")


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _table(values: dict):
    if not values:
        return "—"
    return format_html("<table>{}</table>", format_html_join(
        "", "<tr><th>{}</th><td>{}</td></tr>", ((k, v) for k, v in values.items())))


class MDStudyForm(forms.ModelForm):
    """The start form of an MD study: which Li crystals, at which temperatures, for how long."""

    material_ids = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                   help_text="Material ids, comma-separated (Li-containing crystals).")
    from_screen = forms.IntegerField(required=False, min_value=1, help_text="And/or the first N candidates of the "
                                     "latest li_conductor screen run.")
    temperatures_k = forms.CharField(initial="1000", help_text="K, comma-separated; 3 or more give an Arrhenius fit "
                                     "and the conductivity extrapolated to 300 K.")
    potential = forms.ChoiceField(choices=[("chgnet", "CHGNet 0.3.0"), ("sevennet", "SevenNet-0")])
    ramp_ps = forms.FloatField(initial=1.0, min_value=0, help_text="From 300 K to the temperature, ps.")
    equilibration_ps = forms.FloatField(initial=2.0, min_value=0, help_text="Discarded, ps (the paper: 10).")
    production_ps = forms.FloatField(initial=10.0, min_value=0.1, help_text="Analysed, ps (the paper: 50).")
    min_atoms = forms.IntegerField(initial=100, min_value=1, max_value=2000, help_text="Smallest supercell.")

    class Meta:
        model = MDStudy
        fields = ["name"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        ids = _listed(data.get("material_ids"))
        if data.get("from_screen"):
            from materials.models import ScreenResult, ScreenRun

            run = ScreenRun.objects.filter(screen="li_conductor", status=ScreenRun.Status.SUCCEEDED).first()
            if run is None:
                raise forms.ValidationError("the li_conductor screen has not been run yet")
            ids += list(ScreenResult.objects.filter(run=run, outcome=screens.CANDIDATE).order_by("material__material_id")
                        .values_list("material__material_id", flat=True)[: data["from_screen"]])
        try:
            temperatures = [float(t) for t in data["temperatures_k"].split(",") if t.strip()]
        except ValueError:
            raise forms.ValidationError(f"temperatures_k: {data['temperatures_k']!r} is not a list of numbers") from None
        self.study_args = {"material_ids": ids, "temperatures_k": temperatures, "potential": data["potential"],
                           "ramp_ps": data["ramp_ps"], "equilibration_ps": data["equilibration_ps"],
                           "production_ps": data["production_ps"], "min_atoms": data["min_atoms"]}
        try:  # validated here, created in save_model
            conductivity.check_study(**self.study_args)
        except conductivity.StudyError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


class MDRunInline(ReadOnlyMixin, admin.TabularInline):
    model = MDRun
    fields = ("material", "temperature_k", "status", "step", "total_steps", "atoms", "conductivity", "error")
    readonly_fields = fields
    extra = 0

    @admin.display(description="sigma (mS/cm)")
    def conductivity(self, obj):
        value = (obj.result or {}).get("conductivity_ms_cm")
        return "—" if value is None else f"{value:.3g}"


@admin.register(MDStudy)
class MDStudyAdmin(StartThenReadOnly, admin.ModelAdmin):
    form = MDStudyForm
    list_display = ("pk", "name", "status", "temperatures_k", "created_by", "created_at", "finished_at")
    list_filter = ("status",)
    inlines = [MDRunInline]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "material_ids", "from_screen", "temperatures_k", "potential", "ramp_ps", "equilibration_ps",
                    "production_ps", "min_atoms"]
        return ["name", "status", "settings", "temperatures_k", "created_by", "created_at", "finished_at", "error"]

    def save_model(self, request, obj, form, change):
        if change:
            return
        study = conductivity.create_study(**form.study_args, name=obj.name, user=request.user.get_username())
        obj.pk = study.pk  # the admin redirects to the study it made
        obj.refresh_from_db()
        transaction.on_commit(lambda: tasks.start_md_study.delay(study.pk))
        self.message_user(request, f"MD study {study.pk} queued: {study.runs.count()} runs.", messages.SUCCESS)


@admin.register(TrainingBatch)
class TrainingBatchAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("pk", "name", "status", "progress", "counts", "created_by", "created_at", "finished_at")
    list_filter = ("status",)


@admin.register(TrainingExample)
class TrainingExampleAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("pk", "formula_reduced", "generator", "parent", "split", "status", "fidelity", "e_form",
                    "e_above_hull", "converged", "steps", "origin")
    list_filter = ("status", "split", "origin", "fidelity", "generator", "converged")
    search_fields = ("formula_reduced", "parent", "parent_formula", "key")
    exclude = ("structure", "relaxed_structure")

    @admin.display(description="formation energy (eV/atom, the evaluator's: a potential, not DFT)")
    def e_form(self, obj):
        return "—" if obj.e_form_ev_per_atom is None else f"{obj.e_form_ev_per_atom:.4f}"

    @admin.display(description="above the hull when judged (eV/atom, the evaluator's)")
    def e_above_hull(self, obj):
        return "—" if obj.e_above_hull_ev_per_atom is None else f"{obj.e_above_hull_ev_per_atom:.4f}"


@admin.register(RelaxJob)
class RelaxJobAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Relaxations staff asked for through POST /api/v1/predict/relax/: shown, never edited (nothing here is in the
    catalogue)."""

    list_display = ("pk", "formula_reduced", "nsites", "status", "method", "e_form", "e_above_hull", "user",
                    "created_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("formula_reduced",)
    exclude = ("structure",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in RelaxJob._meta.fields if f.name != "structure"] + ["e_form", "e_above_hull"]

    @admin.display(description="formation energy (eV/atom, the evaluator's: a potential, not DFT)")
    def e_form(self, obj):
        value = (obj.result or {}).get("e_form_ev_per_atom")
        return "—" if value is None else f"{value:.4f}"

    @admin.display(description="above the 'all' hull (meV/atom, the evaluator's)")
    def e_above_hull(self, obj):
        value = (((obj.result or {}).get("stability") or {}).get("all") or {}).get("e_above_hull_ev_per_atom")
        return "—" if value is None else f"{value * 1000:.1f}"
