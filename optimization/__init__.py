"""The original's optimizers (LAMB, Adam with weight decay), learning-rate schedule and gradient clipping.

Training's business, not the network's: nothing here imports modeling/; weight-decay rules take the
variables' TF1 names as an argument (`name_lookup`).
- base.py: the machinery both optimizers share (slots, step counter, weight-decay plan);
- lamb.py, adam_weight_decay.py: one optimizer each;
- lr_schedule.py: PolynomialWarmup; clipping.py: global-norm clipping; weight_decay.py: which
  variables decay;
- optimizer_factory.py: create_optimizer(name, ...).
"""
from optimization.adam_weight_decay import AdamWeightDecay
from optimization.base import DecoupledWeightDecayOptimizer, dense_gradient
from optimization.clipping import all_finite, clip_factor
from optimization.lamb import Lamb
from optimization.lr_schedule import PolynomialWarmup
from optimization.optimizer_factory import OPTIMIZERS, create_optimizer
from optimization.weight_decay import DEFAULT_EXCLUDE, decays, keras_name, name_lookup

__all__ = ["AdamWeightDecay", "DecoupledWeightDecayOptimizer", "Lamb", "PolynomialWarmup", "create_optimizer",
           "clip_factor", "all_finite", "decays", "dense_gradient", "keras_name", "name_lookup", "DEFAULT_EXCLUDE",
           "OPTIMIZERS"]
