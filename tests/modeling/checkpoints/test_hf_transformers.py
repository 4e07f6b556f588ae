"""What save_hf_checkpoint writes, loaded by transformers itself, computes our numbers.

Needs torch and transformers<=4.40.2 (the last release with NEZHA), which the project does not
depend on. They are used from this interpreter when importable here, else from the interpreter named
by NEZHA_HF_PYTHON (a separate virtualenv, e.g. `python -m venv /tmp/hfvenv && /tmp/hfvenv/bin/pip
install transformers==4.40.2 torch`); without either the tests skip, saying so.
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modeling import NezhaConfig, NezhaForPretraining, NezhaModel, load_tf1_checkpoint, save_hf_checkpoint
from modeling.task_models import NezhaForClassification, NezhaForSpanExtraction, NezhaForTokenTagging
from tests.helpers import random_batch, tiny_config

REFERENCE = Path(__file__).with_name("hf_reference.py")
ENCODER_INPUTS = ("input_ids", "input_mask", "segment_ids")


@pytest.fixture(scope="module")
def hf_python():
    configured = os.environ.get("NEZHA_HF_PYTHON")
    if configured:
        probe = subprocess.run([configured, "-c", "import torch, transformers; print(transformers.__version__)"],
                               capture_output=True, text=True, timeout=300)
        if probe.returncode != 0:
            pytest.fail(f"NEZHA_HF_PYTHON={configured} cannot import torch and transformers:\n{probe.stderr}")
        return configured
    if importlib.util.find_spec("torch") and importlib.util.find_spec("transformers"):
        return sys.executable
    pytest.skip("torch and transformers<=4.40.2 are not importable here and NEZHA_HF_PYTHON names no interpreter "
                "that has them: the check against transformers itself is skipped")


def run_transformers(hf_python, directory, features, tmp_path):
    inputs = tmp_path / "inputs.npz"
    outputs = tmp_path / "outputs.npz"
    np.savez(inputs, **{name: np.asarray(features[name]) for name in ENCODER_INPUTS})
    result = subprocess.run([hf_python, str(REFERENCE), str(directory), str(inputs), str(outputs)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(outputs)


def log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def close(got, expected, tolerance):
    error = float(np.abs(np.asarray(got) - np.asarray(expected)).max())
    print(f"max abs error {error:.3g}")
    return error <= tolerance


def perturbed(model):
    import tensorflow as tf

    model.ensure_built()
    for index, variable in enumerate(model.trainable_variables):
        variable.assign(variable + tf.random.stateless_normal(variable.shape, [index, 11], stddev=0.1))
    return model


def test_pretraining_model_from_the_original_checkpoint(hf_python, tiny_lamb_dir, tmp_path):
    golden = np.load(tiny_lamb_dir / "golden.npz")
    model = NezhaForPretraining(NezhaConfig.from_json_file(tiny_lamb_dir / "bert_config.json"))
    load_tf1_checkpoint(model, str(tiny_lamb_dir / "model.ckpt"))
    directory = save_hf_checkpoint(model, tmp_path / "hf")
    reference = run_transformers(hf_python, directory, golden, tmp_path)
    assert str(reference["architecture"]) == "NezhaForPreTraining"
    assert close(reference["hidden_states_0"], golden["embedding_output"], 1e-5)
    assert close(reference["hidden_states_2"], golden["sequence_output"], 1e-5)
    positions = golden["masked_lm_positions"]
    logits = np.take_along_axis(reference["prediction_logits"], positions[:, :, None], axis=1)
    assert close(log_softmax(logits).reshape(golden["mlm_log_probs"].shape), golden["mlm_log_probs"], 1e-4)
    assert close(log_softmax(reference["seq_relationship_logits"]), golden["nsp_log_probs"], 1e-4)


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_erf"])
def test_encoder(hf_python, tmp_path, hidden_act):
    config = tiny_config(hidden_act=hidden_act, layer_norm_eps=1e-6, max_relative_position=5)
    model = perturbed(NezhaModel(config))
    features = random_batch(config, length=12)
    ours = model({name: features[name] for name in ENCODER_INPUTS}, training=False)
    reference = run_transformers(hf_python, save_hf_checkpoint(model, tmp_path / "hf"), features, tmp_path)
    assert str(reference["architecture"]) == "NezhaModel"
    assert close(reference["hidden_states_2"], ours["sequence_output"], 1e-5)
    assert close(reference["pooler_output"], ours["pooled_output"], 1e-5)


@pytest.mark.parametrize("kind", ["classification", "tagging", "reading"])
def test_task_models(hf_python, tmp_path, kind):
    config = tiny_config()
    model = perturbed({"classification": lambda: NezhaForClassification(config, num_labels=3),
                       "tagging": lambda: NezhaForTokenTagging(config, num_labels=5),
                       "reading": lambda: NezhaForSpanExtraction(config)}[kind]())
    features = random_batch(config)
    ours = model({name: features[name] for name in ENCODER_INPUTS}, training=False)
    reference = run_transformers(hf_python, save_hf_checkpoint(model, tmp_path / "hf"), features, tmp_path)
    if kind == "reading":
        # transformers' logits lack our span mask: compare where it adds nothing
        allowed = (features["input_mask"] * features["segment_ids"]).astype(bool)
        allowed[:, 0] = True
        for key in ("start_logits", "end_logits"):
            assert close(reference[key][allowed], ours[key].numpy()[allowed], 1e-5)
    else:
        assert close(reference["logits"], ours["logits"], 1e-5)
