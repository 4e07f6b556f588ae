"""Weights and SavedModels cross the two stacks (README, Set up): what one stack writes, the other reads
and computes the same outputs from.

The directory is NEZHA_CROSS_STACK_DIR. .ci/run runs the suite on the classic stack, then on the current
one (which reads what classic wrote), then this file again on classic (which reads what current wrote).
Each stack writes into its own subdirectory: our TF2 checkpoint, a TF1-name checkpoint, a SavedModel,
and the inputs with the outputs it computed.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from compat.keras import keras
from compat.stack import STACK
from modeling import NezhaConfig
from modeling.checkpoints import save_tf1_checkpoint
from modeling.checkpoints import load_checkpoint
from modeling.task_models import NezhaForClassification
from training.checkpointing import save_best_weights
from training.finetune.export import export_saved_model

VARIABLE = "NEZHA_CROSS_STACK_DIR"
OTHER = {"classic": "current", "current": "classic"}[STACK]
CONFIG = dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
              max_position_embeddings=32, max_relative_position=8, hidden_dropout_prob=0.0,
              attention_probs_dropout_prob=0.0)
LABELS = 3


@pytest.fixture
def exchange() -> Path:
    if not os.environ.get(VARIABLE):
        pytest.skip(f"{VARIABLE} is unset: .ci/run sets it to pass weights and SavedModels between the stacks")
    return Path(os.environ[VARIABLE])


def fresh_model(seed: int) -> NezhaForClassification:
    keras.utils.set_random_seed(seed)
    model = NezhaForClassification(NezhaConfig.from_dict(CONFIG), num_labels=LABELS)
    model.ensure_built()
    return model


def logits(model, inputs) -> np.ndarray:
    return model({k: tf.constant(v) for k, v in inputs.items()}, training=False)["logits"].numpy()


def test_this_stack_writes_weights_and_a_saved_model(exchange):
    out = exchange / STACK
    out.mkdir(parents=True, exist_ok=True)
    model = fresh_model(seed=7)
    rng = np.random.default_rng(3)
    inputs = {"input_ids": rng.integers(0, CONFIG["vocab_size"], (4, 12)).astype(np.int32),
              "input_mask": np.ones((4, 12), np.int32), "segment_ids": np.zeros((4, 12), np.int32)}
    inputs["input_mask"][1, 7:] = 0
    inputs["segment_ids"][:, 6:] = 1
    save_best_weights(model, str(out))
    save_tf1_checkpoint(model, str(out / "tf1" / "model.ckpt"))
    export_saved_model(model, str(out / "saved_model"), ["logits"])
    np.savez(out / "expected.npz", logits=logits(model, inputs), **inputs)
    (out / "written_by.json").write_text(json.dumps({"stack": STACK, "tensorflow": tf.__version__}))
    assert (out / "best" / "model.index").is_file() and (out / "saved_model" / "saved_model.pb").is_file()


@pytest.fixture
def written(exchange) -> Path:
    path = exchange / OTHER
    if not (path / "expected.npz").is_file():
        pytest.skip(f"{path} holds nothing yet: the {OTHER} stack writes it (.ci/run runs classic first, "
                    "then current, then this file on classic again)")
    return path


def expected(written: Path):
    saved = np.load(written / "expected.npz")
    return {k: saved[k] for k in ("input_ids", "input_mask", "segment_ids")}, saved["logits"]


@pytest.mark.parametrize("checkpoint", ["best/model", "tf1/model.ckpt"])
def test_weights_of_the_other_stack_give_its_outputs(written, checkpoint):
    inputs, want = expected(written)
    model = fresh_model(seed=8)  # different weights until the checkpoint is read
    assert not np.allclose(logits(model, inputs), want, atol=1e-3)
    report = load_checkpoint(model, str(written / checkpoint))
    assert report.missing_in_checkpoint == [] and report.unused_in_checkpoint == [], str(report)
    np.testing.assert_allclose(logits(model, inputs), want, rtol=1e-5, atol=1e-5)


def test_saved_model_of_the_other_stack_serves_its_outputs(written):
    inputs, want = expected(written)
    serve = tf.saved_model.load(str(written / "saved_model")).signatures["serving_default"]
    got = serve(**{k: tf.constant(v) for k, v in inputs.items()})["logits"].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
