"""Which variables take weight decay, decided on their TF1 names."""
from optimization import Lamb, name_lookup
from tests.optimization.optimization_helpers import variables_and_values


def test_weight_decay_exclusion_uses_tf1_names():
    values, variables = variables_and_values()
    optimizer = Lamb(1e-3, name_of=name_lookup(variables))
    optimizer.build(list(variables.values()))
    decays = {name: optimizer.decays_weight(v) for name, v in variables.items()}
    assert decays == {"layer/kernel": True, "layer/bias": False, "layer/LayerNorm/gamma": False, "zero/kernel": True}

