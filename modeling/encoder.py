"""NezhaModel: embeddings, the transformer stack and the pooler (the original's BertModel)."""
from __future__ import annotations

import tensorflow as tf

from compat.keras import keras
from modeling.config import NezhaConfig
from modeling.layers import (
    NezhaEmbeddings,
    RelativePositions,
    TransformerBlock,
    attention_mask_adder,
    relative_position_table,
)
from modeling.layers.naming import dense_tf1_variables, truncated_normal
from modeling.layers.seeded_dropout import derive_seed, new_step_seed

ENCODER_INPUTS = ("input_ids", "input_mask", "segment_ids")


def dummy_features(names, length: int = 2) -> dict:
    """A one-example batch of zeros that builds every variable of a model when called on it."""
    return {name: tf.zeros([1, length], tf.int32) for name in names}


def int_features(inputs: dict, names) -> list:
    """The named inputs cast to int32 (any integer dtype is accepted), with a clear error if one is absent."""
    missing = [name for name in names if name not in inputs]
    if missing:
        raise KeyError(f"model inputs lack {missing}; got {sorted(inputs)}")
    return [tf.cast(inputs[name], tf.int32) for name in names]


class BuiltFromConfig:
    """What the encoder and every model built on it share: building the variables from a tiny dummy
    batch, and get_config / from_config around the NezhaConfig (mixed into keras.Model classes
    that set `config`, `relative_attention` and `recompute_layers`)."""

    def dummy_inputs(self) -> dict:
        return dummy_features(ENCODER_INPUTS)

    def ensure_built(self) -> None:
        """Creates the variables (by calling on a tiny batch) if the model was never called."""
        if not self.built:
            self(self.dummy_inputs(), training=False)

    def extra_config(self) -> dict:
        """Constructor arguments beyond the config, relative_attention, recompute_layers and name."""
        return {}

    def get_config(self):
        return {"config": self.config.to_dict(), "relative_attention": self.relative_attention,
                "recompute_layers": self.recompute_layers, "name": self.name, **self.extra_config()}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        return cls(NezhaConfig.from_dict(config.pop("config")), **config)


class NezhaModel(BuiltFromConfig, keras.Model):
    """The encoder. Call with a dict of `input_ids`, `input_mask`, `segment_ids` ([batch, seq]).

    Returns `embedding_output`, `encoder_layers` (one per layer), `sequence_output` and
    `pooled_output`, all float32 (also under mixed precision).
    `relative_attention` picks how the relative-position terms are computed (see RelativePositions):
    "auto" (default) the faster exact method for each sequence length, or "dense" / "per_distance".
    `recompute_layers` (off by default) trades compute for memory in training: each transformer
    layer keeps only its input for the backward pass and recomputes the rest there (about one
    more forward pass per step). Its dropout masks are then drawn statelessly from a per-step seed
    (the same masks in the recomputation), so with dropout its random numbers, though not its
    distribution, differ from the default path; without dropout its numbers are the same.
    It can also be switched on an existing model before its training step is first traced.
    """

    def __init__(self, config: NezhaConfig, relative_attention: str = "auto", recompute_layers: bool = False,
                 **kwargs):
        kwargs.setdefault("name", "bert")
        super().__init__(**kwargs)
        if relative_attention not in RelativePositions.METHODS:
            raise ValueError(
                f"unknown relative_attention {relative_attention!r}; choose one of {RelativePositions.METHODS}"
            )
        self.config = config
        self.relative_attention = relative_attention
        self.recompute_layers = bool(recompute_layers)
        self.embeddings = NezhaEmbeddings(
            vocab_size=config.vocab_size,
            hidden_size=config.hidden_size,
            type_vocab_size=config.type_vocab_size,
            max_position_embeddings=config.max_position_embeddings,
            use_relative_position=config.use_relative_position,
            initializer_range=config.initializer_range,
            dropout_rate=config.hidden_dropout_prob,
            layer_norm_eps=config.layer_norm_eps,
            name="embeddings",
        )
        self.transformer_layers = [
            TransformerBlock(
                hidden_size=config.hidden_size,
                num_heads=config.num_attention_heads,
                intermediate_size=config.intermediate_size,
                hidden_act=config.hidden_act,
                initializer_range=config.initializer_range,
                hidden_dropout_rate=config.hidden_dropout_prob,
                attention_dropout_rate=config.attention_probs_dropout_prob,
                layer_norm_eps=config.layer_norm_eps,
                name=f"layer_{index}",
            )
            for index in range(config.num_hidden_layers)
        ]
        self.pooler = keras.layers.Dense(
            config.hidden_size,
            activation="tanh",
            kernel_initializer=truncated_normal(config.initializer_range),
            name="pooler",
        )
        self._relative_table = None
        if config.use_relative_position:
            self._relative_table = relative_position_table(config.max_relative_position, config.size_per_head)

    @property
    def word_embeddings(self) -> tf.Variable:
        self.ensure_built()
        return self.embeddings.word_embeddings

    def call(self, inputs, training=False):
        input_ids, input_mask, segment_ids = int_features(inputs, ENCODER_INPUTS)
        embedding_output = self.embeddings(input_ids, segment_ids, training=training)
        mask_adder = attention_mask_adder(input_mask)
        relative_positions = None
        if self._relative_table is not None:
            # Built once per forward pass, shared by every layer.
            relative_positions = RelativePositions(
                tf.constant(self._relative_table),
                input_ids.shape[1] if input_ids.shape[1] is not None else tf.shape(input_ids)[1],
                self.config.max_relative_position,
                method=self.relative_attention,
            )
        hidden = embedding_output
        encoder_layers = []
        recompute = self.recompute_layers and training
        step_seed = new_step_seed() if recompute else None
        for index, layer in enumerate(self.transformer_layers):
            if recompute:
                hidden = self._recomputed(layer, derive_seed(step_seed, index), mask_adder, relative_positions)(hidden)
            else:
                hidden = layer(hidden, mask_adder, relative_positions=relative_positions, training=training)
            encoder_layers.append(hidden)
        pooled_output = tf.cast(self.pooler(hidden[:, 0, :]), tf.float32)
        return {
            "embedding_output": tf.cast(embedding_output, tf.float32),
            "encoder_layers": encoder_layers,
            "sequence_output": hidden,
            "pooled_output": pooled_output,
        }

    @staticmethod
    def _recomputed(layer, seed, mask_adder, relative_positions):
        """hidden -> layer(hidden) in training, keeping only `hidden` for the backward pass."""

        def run(hidden):
            return layer(hidden, mask_adder, relative_positions=relative_positions, training=True,
                         dropout_seed=seed)

        return tf.recompute_grad(run)

    def tf1_variables(self) -> dict:
        """Original TF1 name (no ':0') -> variable, built from the layer structure."""
        self.ensure_built()
        prefix = "bert"
        names = self.embeddings.tf1_variables(f"{prefix}/embeddings")
        for index, layer in enumerate(self.transformer_layers):
            names.update(layer.tf1_variables(f"{prefix}/encoder/layer_{index}"))
        names.update(dense_tf1_variables(self.pooler, f"{prefix}/pooler/dense"))
        return names


class NezhaWithHeads(BuiltFromConfig, keras.Model):
    """A NezhaModel (`self.encoder`) with heads on top: the base of the pretraining and task models.
    Subclasses create their heads after calling this constructor and list the heads' TF1 names in
    `head_tf1_variables`."""

    def __init__(self, config: NezhaConfig, relative_attention: str = "auto", recompute_layers: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.encoder = NezhaModel(config, relative_attention=relative_attention, recompute_layers=recompute_layers)

    @property
    def relative_attention(self) -> str:
        return self.encoder.relative_attention

    @property
    def recompute_layers(self) -> bool:
        return self.encoder.recompute_layers

    def tf1_variables(self) -> dict:
        """Original TF1 name (no ':0') -> variable: the encoder's and the heads'."""
        self.ensure_built()
        names = dict(self.encoder.tf1_variables())
        names.update(self.head_tf1_variables())
        return names

    def head_tf1_variables(self) -> dict:
        raise NotImplementedError
