"""create_optimizer: the original's optimizer (LAMB or Adam with weight decay) with its schedule, by name."""
from optimization.adam_weight_decay import AdamWeightDecay
from optimization.lamb import Lamb
from optimization.lr_schedule import PolynomialWarmup

OPTIMIZERS = {"lamb": Lamb, "adam": AdamWeightDecay}


def create_optimizer(name: str, init_lr: float, num_train_steps: int, num_warmup_steps: int,
                     name_of=None, weight_decay_rate: float = 0.01, lamb_exclude_from_layer_adaptation: bool = False):
    """The original's create_optimizer: `name` is 'lamb' or 'adam', schedule PolynomialWarmup.
    `lamb_exclude_from_layer_adaptation`: see Lamb (off: the original's rule)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: expected one of {sorted(OPTIMIZERS)}")
    schedule = PolynomialWarmup(init_lr, num_train_steps, num_warmup_steps)
    if name == "lamb":
        return Lamb(schedule, weight_decay_rate=weight_decay_rate, name_of=name_of,
                    exclude_from_layer_adaptation=lamb_exclude_from_layer_adaptation)
    if lamb_exclude_from_layer_adaptation:
        raise ValueError("lamb_exclude_from_layer_adaptation applies to the lamb optimizer only")
    return OPTIMIZERS[name](schedule, weight_decay_rate=weight_decay_rate, name_of=name_of)
