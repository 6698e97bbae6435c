"""The fine-tuning recipe of the screening ensemble: pure constants, no torch, no Django."""

# The fine-tuning recipe (discovery.training.finetune_ensemble, benchmarks/finetune_recipe.py), chosen on the
# validation candidates (benchmarks/RESULTS.md, "Screening model, version 4"): longer and faster than at first,
# a Huber loss so narrow that it is an absolute error (what the MAE measures), and besides the unrelaxed and
# relaxed frames of each candidate, rescaled copies of the unrelaxed cell and a frame halfway along the
# relaxation, all with the relaxed label.
FINETUNE_EPOCHS, FINETUNE_LEARNING_RATE, FINETUNE_HUBER_DELTA = 12, 1e-3, 0.01
FINETUNE_VOLUMES = (0.85, 1.15)
FINETUNE_MIDWAY = (0.5,)
