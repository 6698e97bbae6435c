"""Helpers of the generation tests: real sample rows chosen by a predicate."""

from __future__ import annotations

import gzip
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from pymatgen.core import Structure


def first_row(data_dir: Path, accept: Callable[[dict], bool]) -> dict:
    """The first sample row (file order) that ``accept`` takes."""
    with gzip.open(data_dir / "gnome_materials_sample.jsonl.gz", "rt") as fh:
        for line in fh:
            row = json.loads(line)
            if accept(row):
                return row
    pytest.fail("no sample row fits")


def structure_of(row: dict) -> Structure:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Structure.from_str(row["cif"], fmt="cif")
