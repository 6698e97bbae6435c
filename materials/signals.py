"""Signals of the catalogue, for the apps built on it (materials imports no other app)."""

from django.dispatch import Signal

# Sent after an import stored new or changed materials: ``material_ids`` (list of str), ``importer`` (str).
materials_changed = Signal()
