"""The three fine-tuning scripts end to end on small slices of ../shared/data with the tiny model."""
import json
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

pytestmark = pytest.mark.slow


def run_script(repo_dir, script, args):
    result = subprocess.run([sys.executable, str(repo_dir / script)] + args, cwd=repo_dir,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def common_args(fixtures_dir, vocab_file, data_dir, output_dir):
    tiny = fixtures_dir / "nezha_tiny_lamb"
    return [f"--data_dir={data_dir}", f"--vocab_file={vocab_file}", f"--bert_config_file={tiny / 'bert_config.json'}",
            f"--init_checkpoint={tiny / 'model.ckpt'}", f"--output_dir={output_dir}", "--log_every=1",
            f"--export_dir={output_dir / 'export'}"]


def losses_fall(output_dir):
    history = json.loads((output_dir / "loss_history.json").read_text())
    losses = [history[k] for k in sorted(history, key=int)]
    assert len(losses) >= 6
    return np.mean(losses[-3:]) < np.mean(losses[:3])


def serve(export_dir, arrays):
    signature = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    return signature(**{k: tf.constant(arrays[k]) for k in ("input_ids", "input_mask", "segment_ids")})


def slice_lines(source, target, start, stop):
    lines = source.read_text(encoding="utf-8").splitlines()[start:stop]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_run_clf(repo_dir, fixtures_dir, vocab_file, shared_dir, tmp_path):
    from data.tasks.classification import ClassificationData, convert_examples
    from data.tasks.pipeline import features_to_arrays
    from data.tokenization import FullTokenizer
    from modeling.config import NezhaConfig
    from modeling.task_models import NezhaForClassification
    from training.checkpointing import load_initial_weights
    from training.finetune.task import run_model

    source = shared_dir / "data" / "chnsenticorp"
    data_dir = clf_data(shared_dir, tmp_path / "data")
    test_lines = (source / "test.tsv").read_text(encoding="utf-8").splitlines()[1:4]
    (data_dir / "test.tsv").write_text("".join(l.split("\t")[1] + "\n" for l in test_lines), encoding="utf-8")
    out = tmp_path / "out"
    log = run_script(repo_dir, "run_clf.py", common_args(fixtures_dir, vocab_file, data_dir, out) + [
        "--task_name=chnsenti", "--max_seq_length=32", "--do_train_and_eval", "--train_batch_size=8",
        "--num_train_epochs=16", "--learning_rate=2e-3", "--save_checkpoints_steps=8", "--warmup_proportion=0",
        f"--export_hf_dir={out / 'hf'}"])
    assert "38 of 38 encoder variables loaded" in log
    assert "looks collapsed" not in log, "a working initial encoder must not be reported as collapsed"
    assert losses_fall(out)
    results = dict(line.split(" = ") for line in (out / "eval_results.txt").read_text().splitlines())
    for key in ("eval_accuracy", "eval_loss", "precision_0", "recall_0", "f1_0", "precision_1", "recall_1", "f1_1"):
        assert key in results
    assert (out / "best" / "model.index").is_file()
    # keep-best: dev accuracy of each checkpoint recomputed here; best/ is the first with the highest,
    # and the final evaluation (accuracy and loss) is that of best/'s weights
    tokenizer = FullTokenizer(str(vocab_file))
    data = ClassificationData("chnsenti", str(data_dir))
    dev = features_to_arrays(convert_examples(data.examples("dev"), data.labels, 32, tokenizer),
                             ("input_ids", "input_mask", "segment_ids", "label_id"))
    config = NezhaConfig.from_json_file(str(fixtures_dir / "nezha_tiny_lamb" / "bert_config.json"))

    def dev_metrics(prefix):
        model = NezhaForClassification(config, num_labels=2)
        model.ensure_built()
        load_initial_weights(model, str(prefix))
        probabilities = run_model(model, dev, 8, ["probabilities"])["probabilities"].astype(np.float64)
        gold = dev["label_id"]
        return (float(np.mean(probabilities.argmax(-1) == gold)),
                float(-np.mean(np.log(probabilities[np.arange(len(gold)), gold]))), model)

    at_step = {step: dev_metrics(out / f"ckpt-{step}")[0] for step in (8, 16)}
    best_step = 8 if at_step[8] >= at_step[16] else 16
    best = json.loads((out / "best_eval_results.txt").read_text())
    assert best["step"] == best_step
    assert best["accuracy"] == pytest.approx(at_step[best_step])
    accuracy, loss, best_model = dev_metrics(out / "best" / "model")
    _, _, step_model = dev_metrics(out / f"ckpt-{best_step}")
    np.testing.assert_array_equal(best_model.tf1_variables()["output_weights"].numpy(),
                                  step_model.tf1_variables()["output_weights"].numpy())
    assert float(results["eval_accuracy"]) == pytest.approx(accuracy)
    assert float(results["eval_loss"]) == pytest.approx(loss, rel=1e-5)
    rows = [[float(v) for v in line.split("\t")] for line in (out / "test_results.tsv").read_text().splitlines()]
    assert len(rows) == 3 and all(len(r) == 2 and abs(sum(r) - 1) < 1e-5 for r in rows)
    # the SavedModel gives the probabilities the run wrote for the test set
    arrays = features_to_arrays(convert_examples(data.examples("test"), data.labels, 32, tokenizer),
                                ("input_ids", "input_mask", "segment_ids"))
    np.testing.assert_allclose(serve(out / "export", arrays)["probabilities"].numpy(), rows, atol=1e-5)
    # --export_hf_dir: a transformers NezhaForSequenceClassification directory with the same weights
    from modeling import load_hf_checkpoint
    hf_config = json.loads((out / "hf" / "config.json").read_text())
    assert hf_config["architectures"] == ["NezhaForSequenceClassification"]
    assert [hf_config["id2label"][str(i)] for i in range(2)] == list(data.labels)
    assert (out / "hf" / "vocab.txt").read_text() == vocab_file.read_text()
    reloaded = NezhaForClassification(config, num_labels=2)
    reloaded.ensure_built()
    report = load_hf_checkpoint(reloaded, str(out / "hf"), strict=True)
    assert "output_weights" in report.loaded
    np.testing.assert_allclose(run_model(reloaded, arrays, 8, ["probabilities"])["probabilities"], rows, atol=1e-5)


def clf_data(shared_dir, data_dir):
    source = shared_dir / "data" / "chnsenticorp"
    data_dir.mkdir()
    slice_lines(source / "train.tsv", data_dir / "train.tsv", 0, 9)  # header + 8 examples
    slice_lines(source / "dev.tsv", data_dir / "dev.tsv", 0, 9)
    return data_dir


def test_same_seed_same_results_other_seed_other_results(repo_dir, fixtures_dir, vocab_file, shared_dir, tmp_path):
    data_dir = clf_data(shared_dir, tmp_path / "data")
    results = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        out = tmp_path / name
        args = common_args(fixtures_dir, vocab_file, data_dir, out)[:-1]  # no SavedModel
        run_script(repo_dir, "run_clf.py", args + [
            "--task_name=chnsenti", "--max_seq_length=32", "--do_train", "--do_eval", "--train_batch_size=4",
            "--num_train_epochs=1", "--learning_rate=1e-3", "--warmup_proportion=0", f"--seed={seed}"])
        results[name] = (out / "eval_results.txt").read_text()
    assert results["a"] == results["b"]
    assert results["a"] != results["c"]


@pytest.mark.parametrize("script", ["run_seq_labelling.py", "run_reading.py"])
def test_an_unknown_task_name_is_a_clear_error(repo_dir, fixtures_dir, vocab_file, tmp_path, script):
    result = subprocess.run([sys.executable, str(repo_dir / script)] + common_args(
        fixtures_dir, vocab_file, tmp_path, tmp_path / "out") + ["--task_name=nosuchtask", "--do_eval"],
        cwd=repo_dir, capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{script}: error: unknown --task_name 'nosuchtask'" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_clf_reports_bad_lines(repo_dir, fixtures_dir, vocab_file, tmp_path):
    (tmp_path / "dev.tsv").write_text("好\t1\n差\t0\tx\n", encoding="utf-8")
    result = subprocess.run([sys.executable, str(repo_dir / "run_clf.py")] + common_args(
        fixtures_dir, vocab_file, tmp_path, tmp_path / "out") + ["--task_name=lcqmc", "--do_eval"],
        cwd=repo_dir, capture_output=True, text=True)
    assert result.returncode != 0
    assert "dev.tsv:1: expected 3 tab-separated columns, found 2" in result.stderr
    assert "Traceback" not in result.stderr


def ner_data(shared_dir, data_dir):
    """train/dev/test files of 8/4/2 short sentences with entities from the People's Daily dev file."""
    blocks = (shared_dir / "data" / "peoples_daily_ner" / "dev.txt").read_text(encoding="utf-8").split("\n\n")
    short = [b for b in blocks if 5 < b.count("\n") < 40 and "B-" in b]
    data_dir.mkdir()
    for name, part in (("train", short[:8]), ("dev", short[8:12]), ("test", short[12:14])):
        (data_dir / f"{name}.txt").write_text("\n\n".join(part) + "\n", encoding="utf-8")
    return data_dir


def test_run_seq_labelling_with_crf(repo_dir, fixtures_dir, vocab_file, shared_dir, tmp_path):
    from data.tasks.ner import PEOPLES_DAILY_LABELS, char_predictions, convert_sentences, read_sentences
    from data.tasks.pipeline import features_to_arrays
    from data.tokenization import FullTokenizer
    from evaluation.ner import entity_level_metrics

    data_dir = ner_data(shared_dir, tmp_path / "data")
    out = tmp_path / "out"
    run_script(repo_dir, "run_seq_labelling.py", common_args(fixtures_dir, vocab_file, data_dir, out) + [
        "--task_name=ner", "--use_crf", "--max_seq_length=48", "--do_train_and_eval", "--train_batch_size=4",
        "--num_train_epochs=6", "--learning_rate=5e-3", "--save_checkpoints_steps=6", "--warmup_proportion=0"])
    assert losses_fall(out)
    assert (out / "label_list.txt").read_text().split() == PEOPLES_DAILY_LABELS
    results = dict(line.split(" = ") for line in (out / "eval_results.txt").read_text().splitlines())
    for key in ("entity_precision", "entity_recall", "entity_f1", "token_precision", "token_recall", "token_f1"):
        assert key in results
    # dev_predictions.txt is CoNLL: `char gold predicted`, and recomputes the reported entity F1
    dev = read_sentences(data_dir / "dev.txt")
    written = [[line.split(" ") for line in block.splitlines()]
               for block in (out / "dev_predictions.txt").read_text(encoding="utf-8").split("\n\n")]
    assert [[(c, g) for c, g, _ in s] for s in written] == [list(zip(s.chars, s.tags)) for s in dev]
    recomputed = entity_level_metrics([[g for _, g, _ in s] for s in written], [[p for _, _, p in s] for s in written])
    assert recomputed["f1"] == pytest.approx(float(results["entity_f1"]))
    # the SavedModel's tags give the test predictions the run wrote
    test = read_sentences(data_dir / "test.txt")
    features = convert_sentences(test, PEOPLES_DAILY_LABELS, 48, FullTokenizer(str(vocab_file)))
    tags = serve(out / "export", features_to_arrays(features, ("input_ids", "input_mask", "segment_ids")))["tags"]
    written_test = [[line.split(" ")[2] for line in block.splitlines()]
                    for block in (out / "test_predictions.txt").read_text(encoding="utf-8").split("\n\n")]
    assert [char_predictions(f, row, PEOPLES_DAILY_LABELS) for f, row in zip(features, tags.numpy())] == written_test


def test_run_seq_labelling_with_crf_under_xla(repo_dir, fixtures_dir, vocab_file, shared_dir, tmp_path):
    """The CRF's loss gradient compiles with --use_xla (tensorflow-addons' did not: FakeParam)."""
    data_dir = ner_data(shared_dir, tmp_path / "data")
    out = tmp_path / "out"
    run_script(repo_dir, "run_seq_labelling.py", common_args(fixtures_dir, vocab_file, data_dir, out)[:-1] + [
        "--task_name=ner", "--use_crf", "--use_xla", "--max_seq_length=48", "--do_train", "--train_batch_size=4",
        "--num_train_epochs=2", "--learning_rate=5e-3", "--warmup_proportion=0"])
    history = json.loads((out / "loss_history.json").read_text())
    assert len(history) >= 4 and all(np.isfinite(loss) for loss in history.values())


def test_run_reading(repo_dir, fixtures_dir, vocab_file, shared_dir, tmp_path):
    from data.tasks.pipeline import features_to_arrays
    from data.tasks.reading import convert_examples, read_examples
    from data.tokenization import FullTokenizer
    from evaluation.reading import reading_metrics

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for split, count in (("train", 2), ("dev", 1)):
        dataset = json.loads((shared_dir / "data" / "cmrc2018" / f"cmrc2018_{split}.json").read_text(encoding="utf-8"))
        dataset["data"] = dataset["data"][:count]
        (data_dir / f"cmrc2018_{split}.json").write_text(json.dumps(dataset, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    run_script(repo_dir, "run_reading.py", common_args(fixtures_dir, vocab_file, data_dir, out) + [
        "--task_name=cmrc2018", "--max_seq_length=128", "--doc_stride=64", "--do_train", "--do_eval",
        "--do_predict", "--train_batch_size=8", "--num_train_epochs=2", "--learning_rate=3e-3",
        "--save_checkpoints_steps=100", "--n_best_size=5"])
    assert losses_fall(out)
    dev = json.loads((data_dir / "cmrc2018_dev.json").read_text(encoding="utf-8"))
    contexts = {qa["id"]: p["context"] for a in dev["data"] for p in a["paragraphs"] for qa in p["qas"]}
    predictions = json.loads((out / "predictions.json").read_text(encoding="utf-8"))
    assert set(predictions) == set(contexts)
    assert all(text and text in contexts[qid] for qid, text in predictions.items())
    nbest = json.loads((out / "nbest_predictions.json").read_text(encoding="utf-8"))
    assert all(1 <= len(nbest[q]) <= 5 and nbest[q][0]["text"] == predictions[q] for q in predictions)
    eval_text = (out / "eval_results.txt").read_text()
    assert list(json.loads(eval_text)) == ["AVERAGE", "F1", "EM", "TOTAL", "SKIP"]
    assert json.loads(eval_text) == reading_metrics(dev, predictions, log=None)
    # the SavedModel's logits equal the in-process ones
    from modeling.config import NezhaConfig
    from modeling.task_models import NezhaForSpanExtraction
    from training.checkpointing import restore_for_inference
    from training.finetune.task import run_model

    model = NezhaForSpanExtraction(NezhaConfig.from_json_file(str(fixtures_dir / "nezha_tiny_lamb" / "bert_config.json")))
    model.ensure_built()
    restore_for_inference(model, str(out), None, prefer_best=False)
    examples = read_examples(data_dir / "cmrc2018_dev.json", training=False)
    arrays = features_to_arrays(convert_examples(examples, FullTokenizer(str(vocab_file)), 128, 64, 64, False),
                                ("input_ids", "input_mask", "segment_ids"))
    expected = run_model(model, arrays, 8, ["start_logits", "end_logits"])
    served = serve(out / "export", arrays)
    for key in ("start_logits", "end_logits"):
        np.testing.assert_allclose(served[key].numpy(), expected[key], atol=1e-4)


def test_export_hf_dir_refuses_a_crf_tagger_before_training(repo_dir, fixtures_dir, vocab_file, shared_dir, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    text = (shared_dir / "data" / "peoples_daily_ner" / "dev.txt").read_text(encoding="utf-8")
    (data_dir / "train.txt").write_text("\n\n".join(text.split("\n\n")[:4]) + "\n\n", encoding="utf-8")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(repo_dir / "run_seq_labelling.py")] + common_args(
        fixtures_dir, vocab_file, data_dir, out)[:-1] + ["--use_crf", "--do_train", "--max_seq_length=32",
                                                         f"--export_hf_dir={out / 'hf'}"],
        cwd=repo_dir, capture_output=True, text=True)
    assert result.returncode == 1
    assert "CRF" in result.stderr and "Traceback" not in result.stderr
    assert not (out / "ckpt-1.index").exists(), "refused before any training"


def test_a_collapsed_initial_checkpoint_is_reported(repo_dir, fixtures_dir, vocab_file, shared_dir, tmp_path):
    """The guard against fine-tuning from a pretraining run that collapsed (issue: outputs that no longer
    depend on the input): the tiny fixture with its last LayerNorm scale zeroed, saved as TF1."""
    from modeling import NezhaConfig, NezhaForPretraining, load_tf1_checkpoint, save_tf1_checkpoint
    tiny = fixtures_dir / "nezha_tiny_lamb"
    model = NezhaForPretraining(NezhaConfig.from_json_file(tiny / "bert_config.json"))
    model.ensure_built()
    load_tf1_checkpoint(model, str(tiny / "model.ckpt"))
    gamma = model.tf1_variables()["bert/encoder/layer_1/output/LayerNorm/gamma"]
    gamma.assign(tf.zeros_like(gamma))
    collapsed = save_tf1_checkpoint(model, str(tmp_path / "collapsed" / "model.ckpt"))
    data_dir = clf_data(shared_dir, tmp_path / "data")
    args = common_args(fixtures_dir, vocab_file, data_dir, tmp_path / "out")[:-1]
    args = [a for a in args if not a.startswith("--init_checkpoint")] + [f"--init_checkpoint={collapsed}"]
    log = run_script(repo_dir, "run_clf.py", args + ["--task_name=chnsenti", "--max_seq_length=32", "--do_train",
                                                      "--train_batch_size=8", "--num_train_epochs=1"])
    assert f"--init_checkpoint {collapsed} looks collapsed" in log
    assert "sequence_across_positions = 0" in log


def reading_data(shared_dir, data_dir, counts=(("train", 2), ("dev", 1))):
    data_dir.mkdir()
    for split, count in counts:
        dataset = json.loads((shared_dir / "data" / "cmrc2018" / f"cmrc2018_{split}.json").read_text(encoding="utf-8"))
        dataset["data"] = dataset["data"][:count]
        (data_dir / f"cmrc2018_{split}.json").write_text(json.dumps(dataset, ensure_ascii=False), encoding="utf-8")
    return data_dir


@pytest.mark.parametrize("script", ["run_clf.py", "run_seq_labelling.py", "run_reading.py"])
def test_fine_tuning_evaluation_and_prediction_in_bf16(repo_dir, fixtures_dir, vocab_file, shared_dir, tmp_path, script):
    """--use_bf16 trains, evaluates, predicts and exports in each script; losses and outputs stay float32."""
    out = tmp_path / "out"
    if script == "run_clf.py":
        data_dir = clf_data(shared_dir, tmp_path / "data")
        (data_dir / "test.tsv").write_text((data_dir / "dev.tsv").read_text(encoding="utf-8"), encoding="utf-8")
        extra = ["--task_name=chnsenti"]
    elif script == "run_seq_labelling.py":
        data_dir = ner_data(shared_dir, tmp_path / "data")
        extra = ["--use_crf"]
    else:
        data_dir = reading_data(shared_dir, tmp_path / "data", (("train", 1), ("dev", 1)))
        extra = ["--doc_stride=32", "--n_best_size=5"]
    log = run_script(repo_dir, script, common_args(fixtures_dir, vocab_file, data_dir, out) + extra + [
        "--use_bf16", "--max_seq_length=64", "--do_train", "--do_eval", "--do_predict", "--train_batch_size=4",
        "--num_train_epochs=1", "--learning_rate=1e-3", "--warmup_proportion=0"])
    assert "precision policy: mixed_bfloat16" in log
    history = json.loads((out / "loss_history.json").read_text())
    assert history and all(np.isfinite(loss) for loss in history.values())
    assert (out / "eval_results.txt").stat().st_size > 0
    predictions = {"run_clf.py": "test_results.tsv", "run_seq_labelling.py": "test_predictions.txt",
                   "run_reading.py": "predictions.json"}[script]
    assert (out / predictions).stat().st_size > 0
    signature = tf.saved_model.load(str(out / "export")).signatures["serving_default"]
    for spec in signature.structured_outputs.values():
        assert spec.dtype in (tf.float32, tf.int32)


# The heads of run_clf.py and run_seq_labelling.py drop out 0.1 of their inputs (the original's
# fixed rate), and a dropout op's random state is not checkpointed: a resumed run draws other masks
# than an uninterrupted one. Off, the runs are a function of --seed alone, which is what resuming
# must preserve (the shuffled stream, the step, the optimizer's slots and schedule).
WITHOUT_HEAD_DROPOUT = ("import runpy, sys; import modeling.task_models as m; m.HEAD_DROPOUT = 0.0; "
                        "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


def preemption_case(script, shared_dir, data_dir):
    """Data and flags for about 40 updates of `script` that end by evaluating, predicting and exporting."""
    if script == "run_clf.py":
        clf_data(shared_dir, data_dir)
        (data_dir / "test.tsv").write_text((data_dir / "dev.tsv").read_text(encoding="utf-8"), encoding="utf-8")
        return ["--task_name=chnsenti", "--max_seq_length=32", "--num_train_epochs=20"]
    if script == "run_seq_labelling.py":
        ner_data(shared_dir, data_dir)
        return ["--max_seq_length=48", "--num_train_epochs=20"]
    reading_data(shared_dir, data_dir, (("train", 1), ("dev", 1)))
    return ["--max_seq_length=64", "--doc_stride=32", "--n_best_size=5", "--num_train_epochs=4"]


def without_head_dropout(repo_dir, script, args):
    return subprocess.Popen([sys.executable, "-c", WITHOUT_HEAD_DROPOUT, str(repo_dir / script)] + args,
                            cwd=repo_dir, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)


def finished(process):
    log = process.communicate(timeout=600)[1]
    assert process.returncode == 0, log[-3000:]
    return log


def checkpoint_values(prefix):
    reader = tf.train.load_checkpoint(str(prefix))
    # save_counter counts the saves, one more in a run that saved when it stopped
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith(("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH"))}


@pytest.mark.parametrize("script", ["run_clf.py", "run_seq_labelling.py", "run_reading.py"])
def test_sigterm_saves_exits_75_infers_nothing_and_the_resumed_run_ends_like_an_uninterrupted_run(
        repo_dir, fixtures_dir, vocab_file, shared_dir, tmp_path, script):
    """A scheduler's SIGTERM mid-training (training/preemption.py): the run saves the step it reached
    and exits 75 (retry) before its evaluation, prediction and export; the same command resumes it."""
    data_dir = tmp_path / "data"
    extra = preemption_case(script, shared_dir, data_dir) + [
        "--do_train_and_eval", "--do_predict", "--train_batch_size=4", "--learning_rate=1e-3",
        "--warmup_proportion=0", "--save_checkpoints_steps=1000", "--seed=3"]

    def args(out, export=True):
        flags = common_args(fixtures_dir, vocab_file, data_dir, out) + extra
        return flags if export else [flag for flag in flags if not flag.startswith("--export_dir")]

    full, stopped = tmp_path / "full", tmp_path / "stopped"
    finished(without_head_dropout(repo_dir, script, args(full, export=False)))
    steps = max(int(p.name[len("ckpt-"):-len(".index")]) for p in full.glob("ckpt-*.index"))
    assert steps >= 30, "enough updates left after the signal for it to arrive mid-run"

    process = without_head_dropout(repo_dir, script, args(stopped))
    seen = []
    for line in process.stderr:  # the progress line of step 5: training is under way
        seen.append(line)
        if "step =      5 " in line:
            process.send_signal(signal.SIGTERM)
            break
    log = "".join(seen) + process.communicate(timeout=300)[1]
    assert process.returncode == 75, log[-3000:]
    stop = re.search(rf"{script}: preempted by SIGTERM at step (\d+) of {steps}; {stopped}/ckpt-(\d+) holds the run",
                     log)
    assert stop and stop[1] == stop[2], log[-3000:]
    at_stop = int(stop[1])
    assert 5 <= at_stop < steps and "Traceback" not in log
    assert sorted(p.name for p in stopped.glob("ckpt-*.index")) == [f"ckpt-{at_stop}.index"]
    # nothing was due before the stop (no scheduled checkpoint, so no keep-best evaluation), and
    # nothing is started after it: the grace period is for the checkpoint
    left = {"best", "best_eval_results.txt", "eval_results.txt", "export", "test_results.tsv",
            "test_predictions.txt", "predictions.json", "dev_predictions.txt"}
    assert not left & {p.name for p in stopped.iterdir()}, sorted(p.name for p in stopped.iterdir())
    assert ": dev " not in log and "evaluating / predicting" not in log

    log = finished(without_head_dropout(repo_dir, script, args(stopped)))
    assert f"resuming from {stopped}/ckpt-{at_stop} (step {at_stop})" in log
    assert (stopped / "export" / "saved_model.pb").is_file()
    assert (stopped / f"ckpt-{steps}.index").is_file()
    # the stopped run's logged losses are kept and the resumed run's follow them (--log_every=1)
    history = json.loads((stopped / "loss_history.json").read_text())
    assert sorted(history, key=int) == [str(step) for step in range(1, steps + 1)]
    ours, theirs = checkpoint_values(stopped / f"ckpt-{steps}"), checkpoint_values(full / f"ckpt-{steps}")
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_allclose(ours[name], theirs[name], atol=1e-6, err_msg=name)
    assert (stopped / "eval_results.txt").read_text() == (full / "eval_results.txt").read_text()
    uninterrupted = json.loads((full / "loss_history.json").read_text())
    np.testing.assert_allclose([history[k] for k in uninterrupted], list(uninterrupted.values()), rtol=1e-5)
