"""Turn a dataset record into catalogue fields. Pure (no Django), picklable, run in worker processes.

Each ``process_*`` function takes a record from ``readers`` and the elemental references
(element -> eV/atom) and returns ``{"material": {...}, "calculation": {...}, "warnings": [...]}``
(with ``"fingerprint"``: the stored bytes of ``materials.fingerprint``, for a crystal), or raises
``RowRejected`` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from .dimensionality import LABELS
from .fingerprint import stored_fingerprint
from .science import (
    MIN_E_FORM_EV_PER_ATOM,
    Mp2020Corrector,
    RowRejected,
    composition_fields,
    energy_from_formation,
    finite_or_none,
    formation_from_energy,
    missing_references,
    no_reference_note,
    parse_composition,
    parse_structure,
    structure_fields,
)

GNOME_METHOD = "GNoME PBE/PBE+U (MP2020)"
MP_METHOD = "Materials Project GGA/GGA+U (GNoME snapshot)"


def _check_e_form(e_form: float | None) -> None:
    if e_form is not None and e_form < MIN_E_FORM_EV_PER_ATOM:
        raise RowRejected(
            f"formation energy {e_form:.3f} eV/atom is below {MIN_E_FORM_EV_PER_ATOM} eV/atom (unphysical)"
        )


def process_gnome(record: Mapping, refs: Mapping[str, float]) -> dict:
    """A GNoME material: structure from its CIF, energies from the release or the sample."""
    material_id = record.get("material_id") or ""
    if not material_id:
        raise RowRejected("missing material id")
    if not record.get("structure_text"):
        raise RowRejected(f"no CIF for {material_id}")
    structure = parse_structure(record["structure_text"], record.get("structure_format") or "cif")
    fields = structure_fields(structure)
    comp = structure.composition
    if record.get("composition"):
        declared = parse_composition(record["composition"])
        if not declared.almost_equals(comp, rtol=0, atol=1e-6):
            raise RowRejected(
                f"declared composition {declared.formula} does not match the structure's {comp.formula}"
            )

    warnings: list[str] = []
    e_form = finite_or_none(record.get("e_form_ev_per_atom"))
    published_corrected = corrected = finite_or_none(record.get("energy_corrected_ev"))
    uncorrected = finite_or_none(record.get("energy_uncorrected_ev"))
    note = ""
    missing = missing_references(comp, refs)
    if corrected is None and e_form is not None:
        corrected = energy_from_formation(e_form, comp, refs)
    elif corrected is not None and e_form is None:
        e_form = formation_from_energy(corrected, comp, refs)
    _check_e_form(e_form)
    if e_form is None and corrected is None:
        note = "no energy in the dataset (formation energy missing)"
        warnings.append(note)
    elif missing:
        note = no_reference_note(missing)
        corrected = None  # a total energy we cannot place is not offered as if it were on the hull's scale
        warnings.append(note)

    dimensionality = record.get("dimensionality") or ""
    if dimensionality and dimensionality not in LABELS:
        warnings.append(f"unknown dimensionality {dimensionality!r} ignored")
        dimensionality = ""
    band_gap = finite_or_none(record.get("band_gap_ev"))

    fields.update(
        structure=structure.as_dict(),
        band_gap_ev=band_gap,
        dimensionality=dimensionality,
        e_form_ev_per_atom=e_form,
        energy_corrected_ev=corrected,
        energy_method=GNOME_METHOD,
        energy_note=note,
    )
    calculation = {
        "method": GNOME_METHOD,
        "kind": "dft",
        "energy_ev": uncorrected,
        "energy_corrected_ev": published_corrected if published_corrected is not None else corrected,
        "correction_ev": None,
        "correction_scheme": "MP2020 (require_bound), applied by GNoME",
        "e_form_ev_per_atom": e_form,
        "energy_note": note,
    }
    return {"material": fields, "calculation": calculation, "warnings": warnings, "extra": _extra(record),
            "fingerprint": _fingerprint(structure, warnings)}


def _fingerprint(structure, warnings: list[str]) -> bytes | None:
    """The crystal's fingerprint (similar materials), or None with a warning: it never rejects a row."""
    vector, reason = stored_fingerprint(structure)
    if reason:
        warnings.append(f"no fingerprint: {reason}")
    return vector


def _extra(record: Mapping) -> dict:
    published = {
        key: value
        for key, value in (record.get("published") or {}).items()
        if value is not None and not (isinstance(value, float) and not math.isfinite(value))  # JSON has no NaN
    }
    return {"published": published} if published else {}


_corrector: Mp2020Corrector | None = None


def process_mp(record: Mapping, refs: Mapping[str, float]) -> dict:
    """A Materials Project hull phase: composition and energy only; MP2020 applied from the composition."""
    global _corrector
    material_id = record.get("material_id") or ""
    if not material_id:
        raise RowRejected("missing material id")
    comp = parse_composition(record.get("composition") or "")
    fields = composition_fields(comp)
    nsites = finite_or_none(record.get("nsites"))
    if nsites is not None and int(round(nsites)) != fields["nsites"]:
        raise RowRejected(f"NSites {nsites:g} does not match composition {comp.formula}")
    published = finite_or_none(record.get("energy_published_ev"))
    if published is None:
        raise RowRejected("no energy ('Corrected Energy' is empty)")
    if _corrector is None:
        _corrector = Mp2020Corrector()
    correction = _corrector.correct(comp, published)
    corrected = correction.energy_ev
    e_form = formation_from_energy(corrected, comp, refs)
    _check_e_form(e_form)
    warnings: list[str] = []
    note = ""
    missing = missing_references(comp, refs)
    if missing:
        note = no_reference_note(missing)
        warnings.append(note)
    note_published = (
        f"published energy {published:.6f} eV; {correction.correction_ev:+.4f} eV MP2020 correction applied here"
    )
    fields.update(
        structure=None,
        e_form_ev_per_atom=e_form,
        energy_corrected_ev=corrected,
        energy_method=MP_METHOD,
        energy_note=note,
    )
    calculation = {
        "method": MP_METHOD,
        "kind": "dft",
        "energy_ev": published,
        "energy_corrected_ev": corrected,
        "correction_ev": correction.correction_ev,
        "correction_scheme": correction.scheme + ("; " + "; ".join(correction.adjustments)
                                                  if correction.adjustments else ""),
        "e_form_ev_per_atom": e_form,
        "energy_note": note or note_published,
    }
    return {"material": fields, "calculation": calculation, "warnings": warnings, "extra": _extra(record)}


def process_upload(record: Mapping, refs: Mapping[str, float]) -> dict:
    """A user's structure file; an energy (corrected total, eV per cell) is optional."""
    structure = parse_structure(record.get("structure_text") or "", record.get("structure_format") or "cif")
    fields = structure_fields(structure)
    comp = structure.composition
    energy = finite_or_none(record.get("energy_ev"))
    warnings: list[str] = []
    note = ""
    e_form = None
    if energy is None:
        note = "no energy supplied"
    else:
        e_form = formation_from_energy(energy, comp, refs)
        _check_e_form(e_form)
        missing = missing_references(comp, refs)
        if missing:
            note = no_reference_note(missing)
            warnings.append(note)
    method = record.get("method") or "User supplied"
    fields.update(
        structure=structure.as_dict(),
        e_form_ev_per_atom=e_form,
        energy_corrected_ev=energy if e_form is not None else None,
        energy_method=method if energy is not None else "",
        energy_note=note,
    )
    calculation = None
    if energy is not None:
        calculation = {
            "method": method,
            "kind": record.get("energy_kind") or "user",
            "energy_ev": energy,
            "energy_corrected_ev": energy,
            "correction_ev": None,
            "correction_scheme": "as supplied (declared MP2020-compatible by the uploader)",
            "e_form_ev_per_atom": e_form,
            "energy_note": note,
        }
    return {"material": fields, "calculation": calculation, "warnings": warnings, "extra": _extra(record),
            "fingerprint": _fingerprint(structure, warnings)}


# ---- worker processes (the import service's pool runs these; no Django here) -------------------

_worker_refs: dict[str, float] = {}
_worker_process: Callable | None = None


def init_worker(process: Callable, refs: dict[str, float]) -> None:
    global _worker_refs, _worker_process
    _worker_refs, _worker_process = refs, process


def process_one(item: tuple[int, str, str, dict]) -> tuple[int, str, str, dict | str]:
    """Process one ``(row number, material id, row hash, record)``; a rejection comes back as its reason."""
    number, material_id, digest, record = item
    try:
        return number, material_id, digest, _worker_process(record, _worker_refs)
    except RowRejected as exc:
        return number, material_id, digest, str(exc)
    except Exception as exc:  # an unforeseen failure rejects the row, never the run
        return number, material_id, digest, f"unexpected error: {type(exc).__name__}: {exc}"
