"""The GNoME graph network: invariances, TTA, checkpoints and bad input, on real sample structures."""

from __future__ import annotations

import gzip
import json
import warnings

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from scipy.spatial.transform import Rotation

from discovery.gnn.featurize import GraphError, graph_of, tta_length_factors
from discovery.gnn.model import GNNConfig, GNoMEModel, batch_graphs
from discovery.gnn.predict import (
    load_model,
    predict_graphs,
    predict_structures,
    save_checkpoint,
)


@pytest.fixture(scope="module")
def structures(data_dir) -> list[Structure]:
    found = []
    with gzip.open(data_dir / "gnome_materials_sample.jsonl.gz", "rt") as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for line in fh:
            row = json.loads(line)
            if row["nsites"] <= 20:
                found.append(Structure.from_str(row["cif"], fmt="cif"))
            if len(found) == 6:
                return found
    return found


@pytest.fixture(scope="module")
def model() -> GNoMEModel:
    torch.manual_seed(7)
    model = GNoMEModel(GNNConfig(embedding_dim=32, mlp_widths=(32, 32), steps=3, shift=-1.0, scale=0.5))
    model.eval()
    for p in model.parameters():  # weights away from the initial ones, so that a failure cannot hide
        p.data.add_(0.05 * torch.randn_like(p))
    return model.double()


def energy(model, structure) -> float:
    batch = batch_graphs([graph_of(structure)], dtype=torch.float64)
    with torch.no_grad():
        return float(model(batch)[0])


def test_rotation_translation_and_permutation_leave_the_energy_unchanged(model, structures):
    for s in structures:
        reference = energy(model, s)
        rotated = Structure(Lattice(Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).apply(s.lattice.matrix.copy())),
                            s.species, s.frac_coords)
        shifted = s.copy()
        shifted.translate_sites(list(range(len(s))), [0.137, 0.291, 0.503])
        order = np.random.default_rng(0).permutation(len(s))
        permuted = Structure(s.lattice, [s.species[i] for i in order], s.frac_coords[order])
        for variant in (rotated, shifted, permuted):
            assert energy(model, variant) == pytest.approx(reference, abs=1e-9)


def test_a_supercell_has_the_same_energy_per_atom(model, structures):
    for s in structures[:3]:
        assert energy(model, s * (2, 1, 2)) == pytest.approx(energy(model, s), abs=1e-9)


def test_tta_at_scale_one_alone_is_the_plain_prediction_and_more_volumes_only_lower_it(model, structures):
    graphs = [graph_of(s, min_scale=float(tta_length_factors([0.8])[0])) for s in structures]
    plain = np.array([energy(model, s) for s in structures])
    assert predict_graphs([model], graphs, volumes=[1.0])[0] == pytest.approx(plain, abs=1e-9)
    assert predict_graphs([model], graphs, volumes=None)[0] == pytest.approx(plain, abs=1e-9)
    full = predict_graphs([model], graphs)[0]
    assert np.all(full <= plain + 1e-12)
    # the scaled graph is the graph of the scaled cell: one neighbour search serves every volume
    s = structures[0]
    small = s.copy()
    small.scale_lattice(s.volume * 0.8)
    assert predict_graphs([model], [graphs[0]], volumes=[0.8])[0][0] == pytest.approx(energy(model, small), abs=1e-9)


def test_the_fast_block_is_the_concatenated_block_and_chunking_changes_no_prediction(model, structures):
    graphs = [graph_of(s, min_scale=float(tta_length_factors([0.8])[0])) for s in structures]
    batch = batch_graphs(graphs, dtype=torch.float64)
    with torch.no_grad():
        fast, reference = model(batch), model(batch, concatenated=True)
    assert torch.allclose(fast, reference, atol=1e-12, rtol=0)
    assert float((fast - fast.mean()).abs().max()) > 1e-3  # the structures differ, so a constant would fail
    one_by_one = predict_graphs([model], graphs, max_floats=1)  # every crystal in a chunk of its own
    assert predict_graphs([model], graphs, max_floats=10**9) == pytest.approx(one_by_one, abs=1e-12)


def test_a_saved_checkpoint_predicts_identically(model, structures, tmp_path):
    save_checkpoint(tmp_path / "m.pt", model, epoch=3)
    loaded, rest = load_model(tmp_path / "m.pt")
    assert rest["epoch"] == 3 and loaded.config == model.config
    graphs = [graph_of(s) for s in structures]
    assert np.array_equal(predict_graphs([loaded.double()], graphs, None), predict_graphs([model], graphs, None))


def test_bad_structures_get_a_reason_and_the_batch_goes_on(model, structures):
    lonely = Structure(Lattice.cubic(9.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    heavy = Structure(Lattice.cubic(3.0), ["Am"], [[0, 0, 0]])
    disordered = Structure(Lattice.cubic(3.0), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    big = Structure(Lattice.cubic(2.5), ["Cu"], [[0, 0, 0]]) * (8, 8, 8)
    with pytest.raises(GraphError, match="no neighbour within 4.0"):
        graph_of(lonely)
    results = predict_structures([model.float()], [structures[0], lonely, heavy, disordered, big, structures[1]])
    model.double()
    assert "no neighbour" in results[1] and "beyond Z=94: Am" in results[2]
    assert "disordered" in results[3] and "512 sites" in results[4]
    assert results[0].e_form_ev_per_atom == pytest.approx(results[0].members[0])
    assert results[5].iqr_ev_per_atom == 0.0


def _examples(data_dir, n=96):
    from discovery.gnn.data import examples, read_jsonl, split_of

    items, _ = examples(read_jsonl(data_dir / "gnome_materials_sample.jsonl.gz", limit=n), tta=False)
    return ([e for e in items if split_of(e.reduced_formula) == "train"],
            [e for e in items if split_of(e.reduced_formula) == "test"])


def test_training_a_few_steps_lowers_the_loss_and_resume_continues_the_same_run(data_dir, tmp_path):
    from discovery.gnn.train import TrainConfig, mae, train

    train_set, test_set = _examples(data_dir)
    assert len(train_set) > 50 and test_set
    config = GNNConfig(embedding_dim=16, mlp_widths=(16, 16), steps=2)
    plan = TrainConfig(epochs=4, batch_size=16, learning_rate=2e-3, seed=3)
    whole, history = train(train_set, test_set, GNNConfig(**config.to_dict() | {"mlp_widths": (16, 16)}), plan,
                           tmp_path / "whole")
    assert history[-1].train_loss < history[0].train_loss
    assert mae(whole, train_set) < history[0].train_mae

    first, _ = train(train_set, test_set, GNNConfig(**config.to_dict() | {"mlp_widths": (16, 16)}), plan,
                     tmp_path / "split", max_epochs_this_call=2)
    resumed, resumed_history = train(train_set, test_set, GNNConfig(**config.to_dict() | {"mlp_widths": (16, 16)}),
                                     plan, tmp_path / "split")
    assert [m.epoch for m in resumed_history] == [0, 1, 2, 3]
    # the same run: same batches, same learning rates (up to the order of floating-point sums across threads)
    assert [m.train_loss for m in resumed_history] == pytest.approx([m.train_loss for m in history], rel=1e-5)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)


def test_the_split_keeps_every_polymorph_of_a_composition_together():
    from discovery.gnn.data import split_of

    assert split_of("LiFePO4") == split_of("LiFePO4")
    shares = [split_of(f"Li{n}O") == "train" for n in range(1, 400)]
    assert 0.78 < sum(shares) / len(shares) < 0.92


def test_the_released_ensemble_predicts_unseen_compositions_well(data_dir, tmp_path):
    from discovery.gnn.__main__ import main as gnn_cli
    from discovery.gnn.__main__ import released_members
    from discovery.gnn.data import read_jsonl, split_of

    members = released_members()
    assert len(members) >= 4
    models = [load_model(m)[0] for m in members]
    test = [(i, s, e) for i, s, e in read_jsonl(data_dir / "gnome_materials_sample.jsonl.gz", limit=600)
            if e is not None and split_of(s.composition.reduced_formula) == "test"][:40]
    results = predict_structures(models, [s for _, s, _ in test])
    errors = [abs(r.e_form_ev_per_atom - e) for r, (_, _, e) in zip(results, test, strict=True) if not isinstance(r, str)]
    assert len(errors) >= 35 and np.mean(errors) < 0.06  # the model card's test MAE is far lower; this guards a break
    assert all(r.iqr_ev_per_atom >= 0 and len(r.members) == len(models) for r in results if not isinstance(r, str))

    cif = tmp_path / "one.cif"
    test[0][1].to(filename=str(cif))
    assert gnn_cli(["predict", str(cif), "--out", str(tmp_path / "p.csv")]) == 0  # the released ensemble by default
    assert (tmp_path / "p.csv").read_text().splitlines()[1].startswith("one,")


def test_bfloat16_inference_stays_within_a_few_mev_of_float32(data_dir):
    from discovery.gnn.__main__ import released_members
    from discovery.gnn.data import read_jsonl

    member = released_members()[0]
    full, half = load_model(member)[0], load_model(member, precision="bfloat16")[0]
    assert next(half.parameters()).dtype == torch.bfloat16
    structures = [s for _, s, _ in read_jsonl(data_dir / "gnome_materials_sample.jsonl.gz", limit=30)]
    reference, approximate = predict_structures([full], structures), predict_structures([half], structures)
    difference = np.array([abs(a.e_form_ev_per_atom - b.e_form_ev_per_atom)
                           for a, b in zip(reference, approximate, strict=True) if not isinstance(a, str)])
    assert len(difference) >= 25
    assert 0 < difference.mean() < 0.01 and difference.max() < 0.04  # bfloat16 differs, but only a little
    with pytest.raises(ValueError, match="unknown precision 'float8'"):
        load_model(member, precision="float8")
