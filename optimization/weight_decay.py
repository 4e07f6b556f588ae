"""Which variables take weight decay: decided on the original's TF1 variable names."""
from typing import Callable, Dict, Iterable, Optional

import tensorflow as tf

DEFAULT_EXCLUDE = ("LayerNorm", "layer_norm", "bias")


def keras_name(variable: tf.Variable) -> str:
    """Fallback name: the variable's own name without the ':0' suffix."""
    name = variable.name
    return name[:-2] if name.endswith(":0") else name


def name_lookup(tf1_variables: Dict[str, tf.Variable],
                fallback: Optional[Callable[[tf.Variable], str]] = keras_name) -> Callable[[tf.Variable], str]:
    """`name_of(var)` from a model's `tf1_variables()` mapping (TF1 name -> variable).

    Variables missing from the mapping get `fallback(var)`; with fallback=None they are an error,
    because silently decaying a LayerNorm would change training.
    """
    by_ref = {variable.ref(): name for name, variable in tf1_variables.items()}

    def name_of(variable: tf.Variable) -> str:
        name = by_ref.get(variable.ref())
        if name is not None:
            return name
        if fallback is None:
            raise KeyError(f"variable {variable.name} has no TF1 name in the model's tf1_variables()")
        return fallback(variable)

    return name_of


def decays(tf1_name: str, exclude: Iterable[str] = DEFAULT_EXCLUDE) -> bool:
    """True when weight decay applies: no excluded pattern occurs in the name (as the original's re.search)."""
    return not any(pattern in tf1_name for pattern in exclude)
