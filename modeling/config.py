"""NezhaConfig: the original's bert_config.json, validated, plus `max_relative_position`."""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping

from fileio.atomic import atomic_output
from fileio.text import TextDecodeError, read_utf8
from modeling.activations import ACTIVATION_NAMES


class ConfigError(ValueError):
    """A model configuration is missing, unreadable or holds an invalid value."""


# Keys that some published bert_config.json files carry but that change nothing in this model.
_TOLERATED_EXTRA_KEYS = frozenset(
    {
        "directionality",
        "pooler_fc_size",
        "pooler_num_attention_heads",
        "pooler_num_fc_layers",
        "pooler_size_per_head",
        "pooler_type",
    }
)


def read_json_file(path: str) -> Any:
    """The parsed JSON of a config file; ConfigError naming the file (and line) otherwise."""
    try:
        text = read_utf8(path)
    except TextDecodeError as error:
        raise ConfigError(f"{path}: line {error.line_number}: {error.reason}") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file does not exist") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config file: {error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: line {error.lineno}: invalid JSON: {error.msg}") from None


@dataclasses.dataclass
class NezhaConfig:
    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 16
    initializer_range: float = 0.02
    # False as in the original's BertConfig: Google's bert_config.json files have no such key and
    # must build absolute position embeddings; NEZHA's released configs say true explicitly.
    use_relative_position: bool = False
    # The original hard-codes 64; a field so that experiments may change the clipping distance.
    max_relative_position: int = 64
    # The original hard-codes 1e-12; a field because Hugging Face configs carry it (`layer_norm_eps`).
    layer_norm_eps: float = 1e-12

    def __post_init__(self):
        self.validate()

    @property
    def size_per_head(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def validate(self, source: str = "config") -> None:
        """Raises ConfigError naming `source` and the offending field."""
        positive_ints = (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
            "max_relative_position",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{source}: field {name!r} must be a positive integer, got {value!r}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ConfigError(f"{source}: field {name!r} must be a number in [0, 1), got {value!r}")
        if isinstance(self.initializer_range, bool) or not isinstance(self.initializer_range, (int, float)) or (
            self.initializer_range <= 0
        ):
            raise ConfigError(
                f"{source}: field 'initializer_range' must be a positive number, got {self.initializer_range!r}"
            )
        if isinstance(self.layer_norm_eps, bool) or not isinstance(self.layer_norm_eps, (int, float)) or (
            self.layer_norm_eps <= 0
        ):
            raise ConfigError(
                f"{source}: field 'layer_norm_eps' must be a positive number, got {self.layer_norm_eps!r}"
            )
        if not isinstance(self.use_relative_position, bool):
            raise ConfigError(
                f"{source}: field 'use_relative_position' must be true or false, got {self.use_relative_position!r}"
            )
        if not isinstance(self.hidden_act, str) or self.hidden_act.lower() not in ACTIVATION_NAMES:
            raise ConfigError(
                f"{source}: field 'hidden_act' is {self.hidden_act!r}; known activations: {sorted(ACTIVATION_NAMES)}"
            )
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"{source}: hidden_size ({self.hidden_size}) is not a multiple of "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if self.use_relative_position and self.size_per_head % 2:
            # The sinusoid table interleaves sin and cos, so each head needs an even size.
            raise ConfigError(
                f"{source}: relative positions need an even size per head, got "
                f"hidden_size / num_attention_heads = {self.size_per_head}"
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> "NezhaConfig":
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: expected a JSON object, got {type(values).__name__}")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = set(values) - known - _TOLERATED_EXTRA_KEYS
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {sorted(unknown)}")
        if "vocab_size" not in values:
            raise ConfigError(f"{source}: required field 'vocab_size' is missing")
        kwargs = {key: value for key, value in values.items() if key in known}
        config = cls.__new__(cls)
        for field in dataclasses.fields(cls):
            default = field.default if field.default is not dataclasses.MISSING else None
            setattr(config, field.name, kwargs.get(field.name, default))
        config.validate(source)
        return config

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "NezhaConfig":
        path = os.fspath(path)
        return cls.from_dict(read_json_file(path), source=path)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str | os.PathLike) -> None:
        """Writes to a temporary name first so that an interrupted write leaves no partial file."""
        with atomic_output(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
            handle.write(self.to_json_string())
