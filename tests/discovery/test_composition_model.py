"""The compositional model: composition graphs, invariances, training with the structural model's trainer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Composition

from discovery.gnn.featurize import GraphError, composition_graph
from discovery.gnn.model import CompositionModel, GNNConfig, batch_graphs, build_model
from discovery.gnn.predict import load_model, predict_graphs, save_checkpoint


@pytest.fixture(scope="module")
def model() -> CompositionModel:
    torch.manual_seed(3)
    model = build_model(GNNConfig(embedding_dim=16, mlp_widths=(16, 16), steps=3, kind="composition"))
    for p in model.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    return model.eval().double()


def test_a_composition_graph_is_one_node_per_element_weighted_by_its_fraction():
    g = composition_graph(Composition("SiO2"))
    assert g.species.tolist() == [7, 13] and g.weights == pytest.approx([2 / 3, 1 / 3]) and len(g.lengths) == 0
    with pytest.raises(GraphError, match="beyond Z=94: Am"):
        composition_graph(Composition("AmO2"))
    with pytest.raises(ValueError, match="unknown model kind"):
        build_model(GNNConfig(kind="crystal"))


def test_the_prediction_depends_on_the_reduced_composition_only(model):
    def predict(formulas):
        batch = batch_graphs([composition_graph(Composition(f)) for f in formulas], dtype=torch.float64)
        with torch.no_grad():
            return model(batch).numpy()

    same = predict(["Li3PS4", "Li6P2S8", "S4PLi3"])
    assert np.ptp(same) < 1e-12
    assert abs(predict(["Li3PS4", "Li2S"])[0] - predict(["Li2S"])[0]) > 1e-4  # different compositions differ


def test_a_compositional_checkpoint_is_rebuilt_from_its_kind(model, tmp_path):
    save_checkpoint(tmp_path / "c.pt", model)
    loaded, _ = load_model(tmp_path / "c.pt")
    assert isinstance(loaded, CompositionModel)
    graphs = [composition_graph(Composition(f)) for f in ("LiFePO4", "NaCl", "Li15Si4")]
    assert np.array_equal(predict_graphs([loaded.double()], graphs, None), predict_graphs([model], graphs, None))


def test_training_on_real_compositions_lowers_the_loss(data_dir, tmp_path):
    from discovery.gnn.data import composition_examples, read_jsonl_compositions, split_of
    from discovery.gnn.train import TrainConfig, mae, train

    items, skipped = composition_examples(read_jsonl_compositions(data_dir / "gnome_materials_sample.jsonl.gz",
                                                                  limit=1500))
    assert len(items) > 1000 and len({e.reduced_formula for e in items}) == len(items)
    train_set = [e for e in items if split_of(e.reduced_formula) == "train"]
    test_set = [e for e in items if split_of(e.reduced_formula) == "test"]
    config = GNNConfig(embedding_dim=32, mlp_widths=(32, 32), steps=2, kind="composition")
    model, history = train(train_set, test_set, config, TrainConfig(epochs=6, batch_size=64, learning_rate=3e-3),
                           tmp_path / "run")
    assert isinstance(model, CompositionModel)
    assert history[-1].train_loss < 0.5 * history[0].train_loss
    spread = float(np.mean(np.abs(np.array([e.e_form for e in test_set]) - np.mean([e.e_form for e in train_set]))))
    assert mae(model, test_set) < 0.6 * spread  # it learned something about unseen compositions
