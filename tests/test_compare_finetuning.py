"""scripts/compare_finetuning.py: test accuracy from run_clf.py's predictions, mean and spread per group."""
import json
import subprocess
import sys

import pytest


def write_run(directory, dev_accuracy, predicted):
    directory.mkdir()
    (directory / "eval_results.txt").write_text(f"eval_accuracy = {dev_accuracy}\neval_loss = 0.3\n")
    rows = ["0.9\t0.1" if label == "0" else "0.2\t0.8" for label in predicted]
    (directory / "test_results.tsv").write_text("\n".join(rows) + "\n")
    return str(directory)


def run_script(repo_dir, *args):
    return subprocess.run([sys.executable, str(repo_dir / "scripts" / "compare_finetuning.py"), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def data_dir(tmp_path):
    directory = tmp_path / "data"
    directory.mkdir()
    (directory / "test.tsv").write_text("label\ttext_a\n1\t好\n0\t差\n1\t很好\n0\t很差\n", encoding="utf-8")
    return directory


def test_groups_are_scored_against_the_test_labels(tmp_path, data_dir, repo_dir):
    a1 = write_run(tmp_path / "a1", 0.9, "1010")   # 4 of 4 right
    a2 = write_run(tmp_path / "a2", 0.8, "1011")   # 3 of 4
    b1 = write_run(tmp_path / "b1", 0.5, "1111")   # 2 of 4
    b2 = write_run(tmp_path / "b2", 0.6, "0000")   # 2 of 4
    output = tmp_path / "results.json"
    result = run_script(repo_dir, f"--data_dir={data_dir}", f"--runs=pretrained={a1},{a2}",
                        f"--runs=random init={b1},{b2}", f"--output_json={output}")
    assert result.returncode == 0, result.stderr
    assert "| pretrained | 2 | 85.0 ± 7.1 (80.0-90.0) | 87.5 ± 17.7 (75.0-100.0) |" in result.stdout
    assert "| random init | 2 | 55.0 ± 7.1 (50.0-60.0) | 50.0 ± 0.0 (50.0-50.0) |" in result.stdout
    assert "pretrained minus random init: +37.5 points" in result.stdout
    numbers = json.loads(output.read_text())
    assert [run["test_accuracy"] for run in numbers["groups"][0]["runs"]] == [1.0, 0.75]


def test_a_run_with_missing_predictions_is_refused(tmp_path, data_dir, repo_dir):
    short = write_run(tmp_path / "short", 0.9, "101")
    result = run_script(repo_dir, f"--data_dir={data_dir}", f"--runs=a={short}")
    assert result.returncode != 0
    assert "3 predictions for 4 test examples" in result.stderr
    assert "Traceback" not in result.stderr
