"""Conformance: LAMB steps from the original's checkpoint reproduce its losses and weights.

NEZHA (relative positions, 3 steps, with and without XLA) and Google BERT (absolute positions,
a config without `use_relative_position`, 2 steps).

Runs through PretrainingRun, the object run_pretraining.py drives: same model, optimizer, schedule,
input pipeline, compiled step and initial-checkpoint loading.
"""
import json

import numpy as np
import pytest
import tensorflow as tf

from tests.training.pretraining_records import write_records
from training.pretraining import PretrainingOptions, PretrainingRun, pretraining_loss

FEATURES = ("input_ids", "input_mask", "segment_ids", "masked_lm_positions", "masked_lm_ids",
            "masked_lm_weights", "next_sentence_labels")


@pytest.mark.parametrize("name,use_xla", [("nezha_tiny_lamb", False), ("nezha_tiny_lamb", True),
                                           ("bert_tiny_absolute", False)])
def test_lamb_steps_match_the_original(fixtures_dir, tmp_path, name, use_xla):
    fixture = fixtures_dir / name
    golden = np.load(fixture / "golden.npz")
    settings = json.loads((fixture / "training.json").read_text())
    batch = {name: golden[name] for name in FEATURES}
    records = write_records(tmp_path / "golden.tfrecord", batch)
    options = PretrainingOptions(
        input_file=records, output_dir=str(tmp_path / "out"), bert_config_file=str(fixture / "bert_config.json"),
        init_checkpoint=str(fixture / "model.ckpt"), max_seq_length=batch["input_ids"].shape[1],
        max_predictions_per_seq=batch["masked_lm_ids"].shape[1], do_train=True,
        train_batch_size=len(batch["input_ids"]), learning_rate=settings["init_lr"],
        num_train_steps=settings["num_train_steps"], num_warmup_steps=settings["num_warmup_steps"],
        optimizer=settings["optimizer"], deterministic=True, use_xla=use_xla)
    job = PretrainingRun(options)
    iterator = iter(job.trainer.prepare(job.train_dataset))
    losses = [job.trainer.run_update([next(iterator)])["total_loss"] for _ in range(settings["train_steps_run"])]
    np.testing.assert_allclose(losses, golden["train_losses"], rtol=1e-4)
    features = {name: tf.constant(value) for name, value in batch.items()}
    after, _ = pretraining_loss(job.model, features, False)
    np.testing.assert_allclose(float(after), float(golden["loss_after_training"]), rtol=1e-4)

    reader = tf.train.load_checkpoint(str(fixture / "trained.ckpt"))
    variables = job.model.tf1_variables()
    expected_names = {n for n in reader.get_variable_to_shape_map() if n in variables}
    assert len(expected_names) == len(variables), "every model variable must be in trained.ckpt"
    for name, variable in variables.items():
        np.testing.assert_allclose(variable.numpy(), reader.get_tensor(name), atol=1e-5, err_msg=name)
    assert job.trainer.step == settings["train_steps_run"]


def test_the_logged_masked_lm_accuracy_is_the_weighted_share_of_correct_predictions(fixtures_dir):
    from modeling import NezhaConfig, NezhaForPretraining, load_tf1_checkpoint
    fixture = fixtures_dir / "nezha_tiny_lamb"
    golden = np.load(fixture / "golden.npz")
    model = NezhaForPretraining(NezhaConfig.from_json_file(fixture / "bert_config.json"))
    load_tf1_checkpoint(model, str(fixture / "model.ckpt"))
    # The random model predicts no label right; make every other label its own prediction, so that
    # the expected accuracy is neither 0 nor 1 (the log-probs do not depend on the labels).
    predicted = golden["mlm_log_probs"].argmax(-1)
    labels = golden["masked_lm_ids"].reshape(-1).copy()
    labels[::2] = predicted[::2]
    weights = golden["masked_lm_weights"].reshape(-1)
    expected = (weights * (predicted == labels)).sum() / weights.sum()
    assert 0.2 < expected < 0.8
    features = {name: tf.constant(golden[name]) for name in FEATURES}
    features["masked_lm_ids"] = tf.constant(labels.reshape(golden["masked_lm_ids"].shape))
    _, metrics = pretraining_loss(model, features, False)
    assert float(metrics["masked_lm_accuracy"]) == pytest.approx(expected, abs=1e-6)
