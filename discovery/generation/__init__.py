"""Candidate generation (GNoME's two frameworks): pure Python, no Django, deterministic for a given seed.

- ``substitution``: ionic substitutions with GNoME's changes to the Hautier et al. model;
- ``saps``: symmetry-aware partial substitutions;
- ``compositions``: compositions under relaxed oxidation-state rules;
- ``composition_model``: the composition-only model that filters them;
- ``random_structures``: random symmetric structures (pyxtal) with a soft-sphere pre-relaxation;
- ``streams``: novelty filter and per-composition deduplication over a stream of candidates.

Every generator yields ``Candidate`` objects that name their method and parent.
"""
