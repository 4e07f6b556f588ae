"""Tabulates fine-tuning runs of a classification task, grouped by how they started (for example
pretrained against random initialisation), with the mean and spread over seeds.

Each run is an output_dir of run_clf.py with --do_eval and --do_predict: its dev accuracy comes
from eval_results.txt and its test accuracy from test_results.tsv against the labels of the
task's test file. Prints a Markdown table, and writes the numbers as JSON with --output_json.
"""
import os
import statistics
import sys

from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from evaluation.classification import classification_metrics  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("runs", [], "NAME=DIR1,DIR2,...: one group of run directories (one per seed). Repeat "
                                      "the flag for each group; the table keeps their order.")
flags.DEFINE_string("task_name", "chnsenti", "run_clf.py's --task_name of the runs.")
flags.DEFINE_string("data_dir", None, "The task's data directory (its test.tsv has the labels).")
flags.DEFINE_string("output_json", None, "Also write the per-run and summary numbers here.")
flags.mark_flag_as_required("data_dir")


def read_eval_accuracy(run_dir):
    path = os.path.join(run_dir, "eval_results.txt")
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, _, value = line.partition(" = ")
            if key.strip() == "eval_accuracy":
                return float(value)
    raise ValueError(f"{path}: no eval_accuracy line")


def test_accuracy(run_dir, gold_labels, labels):
    path = os.path.join(run_dir, "test_results.tsv")
    with open(path, encoding="utf-8") as f:
        rows = [line.split("\t") for line in f if line.strip()]
    if len(rows) != len(gold_labels):
        raise ValueError(f"{path}: {len(rows)} predictions for {len(gold_labels)} test examples")
    predicted = [max(range(len(row)), key=lambda index: float(row[index])) for row in rows]
    return classification_metrics([labels.index(gold) for gold in gold_labels], predicted, labels)["accuracy"]


def summary(values):
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def percent(stats):
    return (f"{100 * stats['mean']:.1f} ± {100 * stats['std']:.1f} "
            f"({100 * stats['min']:.1f}-{100 * stats['max']:.1f})")


def main(argv):
    del argv
    from data.tasks.classification import read_examples, task_format
    from fileio.atomic import write_json

    fmt = task_format(FLAGS.task_name)
    labels = list(fmt.labels)
    examples = read_examples(os.path.join(FLAGS.data_dir, "test.tsv"), fmt, labels, "test")
    gold = [example.label for example in examples]
    if any(label is None for label in gold):
        raise app.UsageError(f"{FLAGS.data_dir}/test.tsv has no labels to score against")
    if not FLAGS.runs:
        raise app.UsageError("give at least one --runs=NAME=DIR,...")
    groups = []
    for spec in FLAGS.runs:
        name, _, dirs = spec.partition("=")
        if not dirs:
            raise app.UsageError(f"--runs {spec!r}: expected NAME=DIR1,DIR2,...")
        try:
            runs = [{"dir": d, "dev_accuracy": read_eval_accuracy(d), "test_accuracy": test_accuracy(d, gold, labels)}
                    for d in dirs.split(",")]
        except (OSError, ValueError) as error:
            sys.exit(f"compare_finetuning: {error}")
        groups.append({"name": name, "runs": runs,
                       "dev": summary([r["dev_accuracy"] for r in runs]),
                       "test": summary([r["test_accuracy"] for r in runs])})
    print("| start | seeds | dev accuracy %, mean ± s.d. (min-max) | test accuracy %, mean ± s.d. (min-max) |")
    print("|---|---|---|---|")
    for group in groups:
        print(f"| {group['name']} | {group['test']['n']} | {percent(group['dev'])} | {percent(group['test'])} |")
    if len(groups) == 2:
        first, second = (group["test"]["mean"] for group in groups)
        print(f"\ntest accuracy, {groups[0]['name']} minus {groups[1]['name']}: {100 * (first - second):+.1f} points")
    if FLAGS.output_json:
        write_json(FLAGS.output_json, {"task_name": FLAGS.task_name, "groups": groups})


if __name__ == "__main__":
    app.run(main)
