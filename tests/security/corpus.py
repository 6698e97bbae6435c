"""A corpus of broken and hostile inputs: structure files, formulas and chemical systems, query values.

Each file entry is (case name, file name, bytes, what the refusal must mention); the texts are built from a
real sample crystal so that each breaks exactly one thing.
"""

from __future__ import annotations

import json

# a billion laughs: no format we take is XML, so it must be refused as such without being expanded
XML_BOMB = ("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n"
            + "".join(f"<!ENTITY lol{i} \"{('&lol' + (str(i - 1) if i > 1 else '') + ';') * 10}\">\n" for i in range(1, 10))
            + "]>\n<lolz>&lol9;</lolz>\n")

POSCAR_LI2O = """Li2 O1
1.0
0.0 2.3095 2.3095
2.3095 0.0 2.3095
2.3095 2.3095 0.0
Li O
2 1
direct
0.25 0.25 0.25 Li
0.75 0.75 0.75 Li
0.0 0.0 0.0 O
"""


def structure_cases(cif: str) -> list[tuple[str, str, bytes, str]]:
    """Hostile variants of the CIF text ``cif`` (a real P1 sample file) and of a small POSCAR."""
    lines = cif.splitlines()
    head, _, rows = cif.partition("_atom_site_occupancy\n")
    first_row = rows.splitlines()[0]
    poscar_lines = POSCAR_LI2O.splitlines()

    def poscar(**replace: str) -> bytes:
        out = list(poscar_lines)
        for index, line in replace.items():
            out[int(index[1:])] = line
        return ("\n".join(out) + "\n").encode()

    cases = [
        ("empty file", "empty.cif", b"", "empty"),
        ("whitespace only", "blank.cif", b"   \n\n\t\n", "empty"),
        ("truncated cif (half the file)", "half.cif", cif[: len(cif) // 2].encode(), "unparsable cif"),
        ("truncated cif (header only)", "header.cif", "\n".join(lines[:12]).encode(), "no structures"),
        ("cif with no atoms loop", "noatoms.cif", head.rsplit("loop_", 1)[0].encode(), "no structures"),
        ("overlapping atoms", "overlap.cif",
         (head + "_atom_site_occupancy\n" + first_row + "\n" + first_row + "\n").encode(), "overlapping"),
        ("10^6 atom rows declared in a cif", "million.cif",
         (head + "_atom_site_occupancy\n" + (first_row + "\n") * 1001).encode(), "at most 1000"),
        ("negative cell length", "negative.cif", cif.replace("_cell_length_a   ", "_cell_length_a   -", 1).encode(),
         "must be positive"),
        ("zero cell length", "zero.cif", _set_cell(cif, "_cell_length_a", "0"), "must be positive"),
        ("nan cell angle", "nan.cif", _set_cell(cif, "_cell_angle_beta", "nan"), "not a number"),
        ("huge cell length", "huge.cif", _set_cell(cif, "_cell_length_c", "1e308"), "degenerate"),
        ("unknown element", "unknown.cif", cif.replace(" Li ", " Xx ").replace("  Nd  Nd", "  Xx  Xx").encode(),
         "unknown element xx"),
        ("partial occupancy", "partial.cif", cif.replace(first_row, first_row[:-1] + "0.5", 1).encode(), "disordered"),
        ("latin-1 bytes", "latin1.cif", cif.encode("utf-8").replace(b"generated", b"g\xe9n\xe9r\xe9"), "UTF-8"),
        ("utf-16 file", "utf16.cif", cif.encode("utf-16"), "binary"),
        ("binary junk", "junk.cif", bytes(range(256)) * 64, "binary"),
        ("xml bomb named .xml", "bomb.xml", XML_BOMB.encode(), "unknown structure format"),
        ("xml bomb named .cif", "bomb.cif", XML_BOMB.encode(), "unparsable cif"),
        ("poscar declaring 10^6 atoms", "POSCAR", poscar(l6="1000000 1"), "1000001 atoms"),
        ("poscar with negative count", "POSCAR_neg", poscar(l6="-2 1"), "negative"),
        ("poscar with a missing coordinate line", "CONTCAR", ("\n".join(poscar_lines[:-1]) + "\n").encode(),
         "unparsable poscar"),
        ("poscar with zero scale", "zero.vasp", poscar(l1="0.0"), "degenerate"),
        ("poscar with singular lattice", "flat.vasp", poscar(l4="0.0 2.3095 2.3095", l3="0.0 2.3095 2.3095"), "degenerate"),
        ("poscar with words for numbers", "words.vasp", poscar(l8="a b c Li"), "could not convert"),
        ("xyz declaring 10^6 atoms", "big.extxyz",
         b"1000000\nLattice=\"5 0 0 0 5 0 0 0 5\" Properties=species:S:1:pos:R:3\nLi 0 0 0\n", "at most 1000"),
        ("xyz with no lattice", "nolattice.xyz", b"1\n\nLi 0 0 0\n", "lattice"),
        ("json that is not a structure", "list.json", b"[1, 2, 3]", "unparsable json"),
        ("deeply nested json", "deep.json", b"[" * 100000 + b"]" * 100000, "unparsable json"),
        ("json with 10^6 sites", "sites.json",
         json.dumps({"lattice": {"matrix": [[5, 0, 0], [0, 5, 0], [0, 0, 5]]},
                     "sites": [{"species": [{"element": "Li", "occu": 1}], "abc": [0, 0, 0]}] * 1001}).encode(),
         "at most 1000"),
        ("unknown extension", "structure.pdb", cif.encode(), "unknown structure format"),
        ("no extension", "structure", cif.encode(), "unknown structure format"),
    ]
    return cases


def _set_cell(cif: str, key: str, value: str) -> bytes:
    out = []
    for line in cif.splitlines():
        out.append(f"{key}   {value}" if line.startswith(key) else line)
    return ("\n".join(out) + "\n").encode()


# values for every query parameter: out of range, wrong type, oversized, unicode, control characters
HOSTILE_VALUES = [
    "", "-1", "0", "-0", "1e309", "-1e309", "nan", "inf", "NaN", "abc", "1,2,3", "1.5.5", "0x10", "9" * 400,
    "Ω", "Li\u0000O", "%00", "' OR '1'='1", "1; DROP TABLE materials_material", "<script>alert(1)</script>",
    "Li" * 100, "x" * 5000, "\u202eLi", "\U0001f9ea", "true", "null", "[]", "{}", "-", ",", "Li-", "--",
]

HOSTILE_FORMULAS = [
    "", "Xx2O", "Li2O" * 50, "L" * 200, "Li-O", "(((((Li)))))", "Li(O", "Li2O)", "Li1e400O", "Li-1O", "Li0",
    "\u00c5", "Li\u2082O", "\U0001f9eaO", "li2o", "LI2O", "12", "Li 2 O", "Li2O;", "Li%O", "Li\nO", "Uuo2", "D2O",
]

HOSTILE_CHEMSYS = [
    "", "-", "Li--O", "Xx-O", "Li-O-", "-Li", "Li-Li", "-".join(["Li"] * 100), "Li-O-" * 40, "li-o", "Ω-O",
    "Li-\u0000", "H-He-Li-Be-B-C-N-O-F-Ne-Na-Mg", "Li_O", "Li,O", "*-O", "Li-*-*-*-*-*-*-*-*-*", "1-2",
]
