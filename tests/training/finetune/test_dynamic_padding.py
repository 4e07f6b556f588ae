"""Dynamic padding (the default) against --pad_to_max_seq_length: on the same weights, evaluation and
prediction give the same outputs for every task, and a short fine-tuning run the same dev accuracy."""
import json

import numpy as np
import pytest

from training.checkpointing import load_initial_weights
from training.finetune.task import run_model
from training.tasks.classification import ClassificationOptions, ClassificationTask
from training.tasks.ner import NerOptions, NerTask
from training.tasks.reading import ReadingOptions, ReadingTask

MAX_SEQ_LENGTH = 64


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def clf_dir(shared_dir, tmp_path, task_name, train, dev):
    """data dir of `task_name` with `train` / `dev` lines of its shared file (LCQMC's dev file for lcqmc)."""
    data_dir = tmp_path / task_name
    data_dir.mkdir()
    if task_name == "lcqmc":
        lines = (shared_dir / "data" / "lcqmc" / "dev.tsv").read_text(encoding="utf-8").splitlines()
        write_lines(data_dir / "train.tsv", lines[:train])
        write_lines(data_dir / "dev.tsv", lines[train:train + dev])
    else:  # reviews are long: mostly short ones, so that batches are shorter than max_seq_length
        for split, count in (("train", train), ("dev", dev)):
            lines = (shared_dir / "data" / "chnsenticorp" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
            short = [line for line in lines[1:] if len(line) < 30]
            long = [line for line in lines[1:] if len(line) >= 30]
            write_lines(data_dir / f"{split}.tsv", lines[:1] + short[:count * 3 // 4] + long[:count - count * 3 // 4])
    return data_dir


def ner_dir(shared_dir, tmp_path):
    blocks = (shared_dir / "data" / "peoples_daily_ner" / "dev.txt").read_text(encoding="utf-8").split("\n\n")
    data_dir = tmp_path / "ner"
    data_dir.mkdir()
    # mostly short sentences, and some beyond MAX_SEQ_LENGTH (truncated alike in both modes)
    short = [block for block in blocks if block.count("\n") < 30]
    long = [block for block in blocks if block.count("\n") >= MAX_SEQ_LENGTH]
    (data_dir / "dev.txt").write_text("\n\n".join(short[:30] + long[:7]) + "\n", encoding="utf-8")
    return data_dir


def reading_dir(shared_dir, tmp_path):
    dataset = json.loads((shared_dir / "data" / "cmrc2018" / "cmrc2018_dev.json").read_text(encoding="utf-8"))
    dataset["data"] = dataset["data"][:2]
    for paragraph in dataset["data"][1]["paragraphs"]:  # short contexts: windows shorter than max_seq_length
        paragraph["context"] = paragraph["context"][:20]
    data_dir = tmp_path / "reading"
    data_dir.mkdir()
    (data_dir / "cmrc2018_dev.json").write_text(json.dumps(dataset, ensure_ascii=False), encoding="utf-8")
    return data_dir


def common(fixtures_dir, vocab_file, data_dir, output_dir, **extra):
    return dict(data_dir=str(data_dir), output_dir=str(output_dir), vocab_file=str(vocab_file),
                bert_config_file=str(fixtures_dir / "nezha_tiny_lamb" / "bert_config.json"),
                init_checkpoint=str(fixtures_dir / "nezha_tiny_lamb" / "model.ckpt"),
                max_seq_length=MAX_SEQ_LENGTH, eval_batch_size=8, **extra)


def case(name, shared_dir, fixtures_dir, vocab_file, tmp_path):
    """(task class, options of both modes, dev arrays getter, output keys compared, per-position keys)."""
    out = tmp_path / "out"
    if name in ("single", "pair"):
        data_dir = clf_dir(shared_dir, tmp_path, "chnsenti" if name == "single" else "lcqmc", 0, 37)
        options = common(fixtures_dir, vocab_file, data_dir, out, task_name="chnsenti" if name == "single" else "lcqmc")
        return ClassificationTask, ClassificationOptions, options, lambda t: t.arrays("dev"), ["logits"], []
    if name in ("ner_softmax", "ner_crf"):
        options = common(fixtures_dir, vocab_file, ner_dir(shared_dir, tmp_path), out, use_crf=name == "ner_crf")
        return NerTask, NerOptions, options, lambda t: t.split("dev")[2], ["logits", "tags"], ["logits", "tags"]
    options = common(fixtures_dir, vocab_file, reading_dir(shared_dir, tmp_path), out, doc_stride=32,
                     max_query_length=24)
    return ReadingTask, ReadingOptions, options, None, ["start_logits", "end_logits"], ["start_logits", "end_logits"]


@pytest.mark.parametrize("name", ["single", "pair", "ner_softmax", "ner_crf", "reading"])
def test_same_outputs_and_metrics_with_dynamic_padding(name, shared_dir, fixtures_dir, vocab_file, tmp_path):
    from modeling.config import NezhaConfig
    from data.tasks.pipeline import features_to_arrays, padded_lengths

    task_class, options_class, options, arrays_of, keys, per_position = case(
        name, shared_dir, fixtures_dir, vocab_file, tmp_path)
    (tmp_path / "out").mkdir()
    dynamic = task_class(options_class(**options))
    fixed = task_class(options_class(**options, pad_to_max_seq_length=True))
    assert dynamic.options.pad_to_multiple == 8 and fixed.options.pad_to_multiple is None
    model = dynamic.build_model(NezhaConfig.from_json_file(options["bert_config_file"]))
    model.ensure_built()
    load_initial_weights(model, options["init_checkpoint"])
    if arrays_of is None:  # reading: the dev windows as the task converts them
        arrays = features_to_arrays(dynamic._convert(dynamic.data.examples("dev"), False),
                                    ("input_ids", "input_mask", "segment_ids"))
    else:
        arrays = arrays_of(dynamic)
    assert len(set(padded_lengths(arrays, 8))) >= 2  # batches of different padded lengths
    outputs = {mode: run_model(model, arrays, 8, keys, task.options.pad_to_multiple, per_position=per_position)
               for mode, task in (("dynamic", dynamic), ("fixed", fixed))}
    real = arrays["input_mask"].astype(bool)
    for key in keys:
        a, b = outputs["dynamic"][key], outputs["fixed"][key]
        assert a.shape == b.shape
        if key in per_position:
            a, b = a[real], b[real]  # padding positions carry no result
        if key == "tags":
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    # the task's own evaluation (its metrics and what it writes) agrees too
    results = {mode: task.evaluate(model) for mode, task in (("dynamic", dynamic), ("fixed", fixed))}
    for key, value in results["fixed"].items():
        if isinstance(value, float):
            assert results["dynamic"][key] == pytest.approx(value, abs=1e-5), key
        elif not isinstance(value, dict):
            assert results["dynamic"][key] == value, key


@pytest.mark.slow
def test_a_short_fine_tuning_run_reaches_the_same_dev_accuracy(shared_dir, fixtures_dir, vocab_file, tmp_path):
    """LCQMC pairs (mostly far shorter than max_seq_length), 250 updates: the same batches in the same
    order either way, so only float rounding differs."""
    from training.finetune.run import run

    data_dir = clf_dir(shared_dir, tmp_path, "lcqmc", 2000, 400)
    accuracy = {}
    for mode, pad in (("dynamic", False), ("fixed", True)):
        out = tmp_path / mode
        options = ClassificationOptions(**common(fixtures_dir, vocab_file, data_dir, out, task_name="lcqmc"),
                                        do_train=True, do_eval=True, train_batch_size=16, num_train_epochs=2.0,
                                        learning_rate=1e-3, save_checkpoints_steps=1000, log_every=50,
                                        pad_to_max_seq_length=pad)
        run(ClassificationTask(options), options)
        results = dict(line.split(" = ") for line in (out / "eval_results.txt").read_text().splitlines())
        accuracy[mode] = float(results["eval_accuracy"])
    assert accuracy["dynamic"] > 0.55  # it learned something (LCQMC dev is about half positive)
    assert abs(accuracy["dynamic"] - accuracy["fixed"]) <= 0.02, accuracy
