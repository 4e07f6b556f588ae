"""NezhaConfig <-> a Hugging Face transformers NEZHA `config.json` (transformers <= 4.40.2).

The two formats share most field names; what differs:
- `hidden_act`: transformers' "gelu" is the exact erf GELU (ours: "gelu_erf"), its "gelu_new" is the
  tanh approximation that the original NEZHA calls "gelu".
- transformers' NEZHA always uses relative positions and fills absent keys with its own defaults
  (`type_vocab_size` 2, not the original's 16), so a config.json is read with those defaults.
- It carries many generic keys (`architectures`, `id2label`, token ids, generation settings, ...)
  that do not change the encoder's numbers; a few that would (a decoder, pruned heads, untied
  output embeddings) are refused rather than ignored.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Sequence

from modeling.config import ConfigError, NezhaConfig, read_json_file

# transformers' NezhaConfig defaults, used for keys a config.json leaves out (as transformers does).
_HF_DEFAULTS = {
    "vocab_size": 21128,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "max_relative_position": 64,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
}

# transformers' activation name -> ours. The tanh forms ("gelu_new", "gelu_fast", "gelu_pytorch_tanh")
# are one formula written three ways; "gelu" and "gelu_python" are the exact erf GELU.
HF_TO_OUR_ACTIVATION = {
    "gelu": "gelu_erf",
    "gelu_python": "gelu_erf",
    "gelu_new": "gelu",
    "gelu_fast": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}
OUR_TO_HF_ACTIVATION = {"gelu": "gelu_new", "gelu_erf": "gelu", "relu": "relu", "tanh": "tanh", "linear": "linear"}

# Keys whose non-default value would make transformers build a different network than ours.
_REFUSED = {
    "is_decoder": (False, "a decoder (causal attention) is not a NEZHA encoder"),
    "add_cross_attention": (False, "cross-attention layers have no counterpart here"),
    "tie_word_embeddings": (True, "the masked-LM output here is always tied to the word embeddings"),
}


def config_from_hf_dict(values: Mapping[str, Any], source: str = "config.json") -> NezhaConfig:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{source}: expected a JSON object, got {type(values).__name__}")
    model_type = values.get("model_type", "nezha")
    if model_type != "nezha":
        raise ConfigError(f"{source}: model_type is {model_type!r}, not 'nezha': only transformers' NEZHA "
                          "checkpoints are read here")
    for key, (expected, why) in _REFUSED.items():
        if key in values and values[key] != expected:
            raise ConfigError(f"{source}: {key} is {values[key]!r}; {why}")
    if values.get("pruned_heads"):
        raise ConfigError(f"{source}: pruned_heads {values['pruned_heads']!r}; models with pruned attention "
                          "heads cannot be held here (every layer has num_attention_heads heads)")
    fields = {key: values.get(key, default) for key, default in _HF_DEFAULTS.items()}
    activation = fields["hidden_act"]
    if not isinstance(activation, str) or activation.lower() not in HF_TO_OUR_ACTIVATION:
        raise ConfigError(f"{source}: hidden_act {activation!r} has no counterpart here; supported "
                          f"transformers activations: {sorted(HF_TO_OUR_ACTIVATION)}")
    fields["hidden_act"] = HF_TO_OUR_ACTIVATION[activation.lower()]
    fields["use_relative_position"] = True  # transformers' NEZHA has no absolute position embeddings
    return NezhaConfig.from_dict(fields, source=source)


def config_from_hf_json_file(path: str | os.PathLike) -> NezhaConfig:
    """`path`: a config.json, or the directory holding it."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    return config_from_hf_dict(read_json_file(path), source=path)


def config_to_hf_dict(config: NezhaConfig, architecture: str, head_dropout: Optional[float] = None,
                      labels: Optional[Sequence[str]] = None) -> dict:
    """The config.json transformers needs to rebuild `architecture` with our numbers.

    `labels` (index -> name) become id2label / label2id, which also set transformers' num_labels.
    """
    if not config.use_relative_position:
        raise ConfigError("this model uses absolute position embeddings (use_relative_position false): it is a "
                          "Google BERT, which transformers' NEZHA classes cannot hold (they have relative "
                          "positions only)")
    activation = config.hidden_act.lower()
    if activation not in OUR_TO_HF_ACTIVATION:
        raise ConfigError(f"hidden_act {config.hidden_act!r} has no transformers counterpart")
    values = {
        "architectures": [architecture],
        "model_type": "nezha",
        "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_hidden_layers,
        "num_attention_heads": config.num_attention_heads,
        "intermediate_size": config.intermediate_size,
        "hidden_act": OUR_TO_HF_ACTIVATION[activation],
        "hidden_dropout_prob": config.hidden_dropout_prob,
        "attention_probs_dropout_prob": config.attention_probs_dropout_prob,
        "max_position_embeddings": config.max_position_embeddings,
        "max_relative_position": config.max_relative_position,
        "type_vocab_size": config.type_vocab_size,
        "initializer_range": config.initializer_range,
        "layer_norm_eps": config.layer_norm_eps,
        "torch_dtype": "float32",
    }
    if head_dropout is not None:
        values["classifier_dropout"] = head_dropout
    if labels is not None:
        names = [str(label) for label in labels]
        if len(set(names)) != len(names):
            raise ConfigError(f"label names must be distinct, got {names}")
        values["id2label"] = {str(index): name for index, name in enumerate(names)}
        values["label2id"] = {name: index for index, name in enumerate(names)}
    return values
