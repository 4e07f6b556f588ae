"""run_clf.py on one CLUE task per family and on --task_name=custom, and run_seq_labelling.py on
CLUENER2020, end to end with the tiny model on a few lines written here: train a few steps,
evaluate, predict, and read the submission file back."""
import json
import subprocess
import sys

import pytest

from tests.test_finetuning_scripts import common_args, run_script

pytestmark = pytest.mark.slow

SENTENCES = ["今天天气很好", "我不喜欢这部电影", "股市大涨", "球队赢了比赛", "新手机发布", "他去北京出差"]


def write_lines(path, objects):
    path.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects), encoding="utf-8")


def wsc_line(i):
    return {"target": {"span1_index": 0, "span1_text": "小明", "span2_index": 3 + i % 2, "span2_text": "他"},
            "idx": i, "label": ["true", "false"][i % 2], "text": "小明说" + "很" * (i % 2) + "他饿了"}


# One task per family: sentence pairs (with "-" labels), single sentences, keywords + abstract, WSC spans.
LINES = {
    "cmnli": lambda i: {"sentence1": SENTENCES[i], "sentence2": SENTENCES[-1 - i],
                        "label": ["entailment", "neutral", "contradiction", "-"][i % 4]},
    "tnews": lambda i: {"label": ["100", "116", "104"][i % 3], "sentence": SENTENCES[i], "keywords": ""},
    "csl": lambda i: {"id": i, "abst": SENTENCES[i], "keyword": SENTENCES[: 1 + i % 3], "label": str(i % 2)},
    "cluewsc2020": wsc_line,
}


def clf_args(fixtures_dir, vocab_file, data_dir, out):
    return common_args(fixtures_dir, vocab_file, data_dir, out)[:-1] + [
        "--max_seq_length=32", "--do_train", "--do_eval", "--do_predict", "--train_batch_size=4",
        "--num_train_epochs=2", "--learning_rate=1e-3", "--warmup_proportion=0"]


def read_json_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("task", sorted(LINES))
def test_run_clf_on_a_clue_task(repo_dir, fixtures_dir, vocab_file, tmp_path, task):
    from data.tasks.classification import task_format

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_lines(data_dir / "train.json", [LINES[task](i) for i in range(6)])
    write_lines(data_dir / "dev.json", [LINES[task](i) for i in range(1, 5)])
    test = [{k: v for k, v in LINES[task](i).items() if k != "label"} | {"id": 10 + i} for i in range(5)]
    write_lines(data_dir / "test.json", test)
    out = tmp_path / "out"
    args = clf_args(fixtures_dir, vocab_file, data_dir, out) + [f"--task_name={task}"]
    log = run_script(repo_dir, "run_clf.py", args)
    if task == "cmnli":
        assert "skipped 1 examples labelled '-'" in log
    results = dict(line.split(" = ") for line in (out / "eval_results.txt").read_text().splitlines())
    assert int(results["num_examples"]) == (3 if task == "cmnli" else 4)
    labels = task_format(task).labels
    rows = (out / "test_results.tsv").read_text().splitlines()
    assert len(rows) == 5 and all(len(row.split("\t")) == len(labels) for row in rows)
    submission = read_json_lines(out / f"{task}_predict.json")
    assert [line["id"] for line in submission] == [10, 11, 12, 13, 14]
    assert all(set(line) == {"id", "label"} and line["label"] in labels for line in submission)
    # the label written is the class with the highest probability in test_results.tsv
    for row, line in zip(rows, submission):
        probabilities = [float(p) for p in row.split("\t")]
        assert line["label"] == labels[probabilities.index(max(probabilities))]


def test_run_clf_custom_saves_its_labels_for_prediction(repo_dir, fixtures_dir, vocab_file, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    rows = [("pos", SENTENCES[i]) if i % 2 else ("neg", SENTENCES[i]) for i in range(6)]
    (data_dir / "train.tsv").write_text("label\treview\n" + "".join(f"{l}\t{t}\n" for l, t in rows), encoding="utf-8")
    (data_dir / "dev.tsv").write_text("label\treview\n" + "".join(f"{l}\t{t}\n" for l, t in rows[:3]),
                                      encoding="utf-8")
    (data_dir / "test.tsv").write_text("review\n好\n差\n", encoding="utf-8")
    out = tmp_path / "out"
    custom = ["--task_name=custom", "--has_header", "--text_a_column=review", "--label_column=label"]
    run_script(repo_dir, "run_clf.py", clf_args(fixtures_dir, vocab_file, data_dir, out) + custom)
    assert (out / "label_list.txt").read_text() == "neg\npos\n"
    assert int(dict(line.split(" = ") for line in (out / "eval_results.txt").read_text().splitlines())
               ["num_examples"]) == 3
    first = (out / "test_results.tsv").read_text()
    assert len(first.splitlines()) == 2
    assert not list(out.glob("*_predict.json"))  # no CLUE submission for the user's own task
    # prediction alone, without the training file: the labels come from output_dir
    (data_dir / "train.tsv").unlink()
    args = [a for a in clf_args(fixtures_dir, vocab_file, data_dir, out) if a not in ("--do_train", "--do_eval")]
    run_script(repo_dir, "run_clf.py", args + custom)
    assert (out / "test_results.tsv").read_text() == first


def test_run_clf_custom_reports_a_wrong_column(repo_dir, fixtures_dir, vocab_file, tmp_path):
    (tmp_path / "dev.json").write_text('{"text": "好", "label": "pos"}\n', encoding="utf-8")
    result = subprocess.run([sys.executable, str(repo_dir / "run_clf.py")] + common_args(
        fixtures_dir, vocab_file, tmp_path, tmp_path / "out") + [
        "--task_name=custom", "--input_format=json", "--text_a_column=sentence", "--labels=neg,pos", "--do_eval"],
        cwd=repo_dir, capture_output=True, text=True)
    assert result.returncode == 1
    assert "dev.json:1: missing field 'sentence' (fields: text, label)" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_seq_labelling_on_cluener(repo_dir, fixtures_dir, vocab_file, tmp_path):
    lines = [{"text": "浙商银行企业信贷部叶老桂", "label": {"name": {"叶老桂": [[9, 11]]}, "company": {"浙商银行": [[0, 3]]}}},
             {"text": "他去北京看故宫", "label": {"address": {"北京": [[2, 3]]}, "scene": {"故宫": [[5, 6]]}}},
             {"text": "张三是一名工程师", "label": {"name": {"张三": [[0, 1]]}, "position": {"工程师": [[5, 7]]}}},
             {"text": "玩了一天王者荣耀", "label": {"game": {"王者荣耀": [[4, 7]]}}}]
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_lines(data_dir / "train.json", lines)
    write_lines(data_dir / "dev.json", lines[:2])
    write_lines(data_dir / "test.json", [{"id": i, "text": line["text"]} for i, line in enumerate(lines[:3])])
    out = tmp_path / "out"
    run_script(repo_dir, "run_seq_labelling.py", common_args(fixtures_dir, vocab_file, data_dir, out)[:-1] + [
        "--task_name=cluener", "--max_seq_length=32", "--do_train", "--do_eval", "--do_predict",
        "--train_batch_size=2", "--num_train_epochs=2", "--learning_rate=1e-3", "--warmup_proportion=0"])
    assert "entity_f1" in (out / "eval_results.txt").read_text()
    predictions = read_json_lines(out / "cluener_predict.json")
    assert [(p["id"], p["text"]) for p in predictions] == [(i, line["text"]) for i, line in enumerate(lines[:3])]
    conll = (out / "test_predictions.txt").read_text(encoding="utf-8").split("\n\n")
    for prediction, block in zip(predictions, conll):
        tags = [row.split(" ")[2] for row in block.strip().splitlines()]
        # the spans written are those of the predicted tags, and each reads its entity in the text
        for entity_type, entities in prediction["label"].items():
            for entity, spans in entities.items():
                for start, end in spans:
                    assert prediction["text"][start:end + 1] == entity
                    assert tags[start] in (f"B-{entity_type}", f"I-{entity_type}")
        assert sum(len(s) for e in prediction["label"].values() for s in e.values()) == sum(
            1 for i, tag in enumerate(tags) if tag != "O" and (i == 0 or tags[i - 1][2:] != tag[2:] or tag[0] == "B"))
