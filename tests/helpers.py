"""The tests' shared model sizes and batches: CPU-sized configs that every test derives its own from."""
import numpy as np

from modeling import NezhaConfig


def tiny_config(**overrides) -> NezhaConfig:
    """2 layers, hidden 32, relative positions up to 8: the modeling tests' size."""
    values = dict(
        vocab_size=97,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        max_position_embeddings=128,
        type_vocab_size=2,
        initializer_range=0.02,
        use_relative_position=True,
        max_relative_position=8,
    )
    values.update(overrides)
    return NezhaConfig(**values)


def smallest_config(**overrides) -> NezhaConfig:
    """1 layer, hidden 16: for tests of the training floor, where the model only has to exist and train."""
    values = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                  max_position_embeddings=32, use_relative_position=True, max_relative_position=4)
    values.update(overrides)
    return NezhaConfig(**values)


def write_config(config: NezhaConfig, path) -> str:
    """`config` as the original's bert_config.json at `path`, for the scripts and runs that read a file."""
    config.to_json_file(str(path))
    return str(path)


def random_batch(config: NezhaConfig, batch: int = 2, length: int = 20, predictions: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    mask = np.ones([batch, length], np.int32)
    mask[1:, length // 2 :] = 0  # padding in every example but the first
    return {
        "input_ids": rng.integers(0, config.vocab_size, [batch, length]).astype(np.int32),
        "input_mask": mask,
        "segment_ids": (np.arange(length)[None, :] >= length // 3).astype(np.int32).repeat(batch, 0),
        "masked_lm_positions": rng.integers(0, length // 2, [batch, predictions]).astype(np.int32),
        "masked_lm_ids": rng.integers(0, config.vocab_size, [batch, predictions]).astype(np.int32),
        "masked_lm_weights": np.array([[1.0] * (predictions - 1) + [0.0]] * batch, np.float32),
        "next_sentence_labels": rng.integers(0, 2, [batch, 1]).astype(np.int32),
    }
