"""scripts/pretrain_finetune.sh (make pretrain-finetune), run end to end at toy size: corpus, records,
pretraining, fine-tuning from the checkpoint and from random initialisation, the table; a rerun
keeps what is finished."""
import json
import os
import subprocess
import sys

import pytest

from data.generation.text_corpus import split_sentences

TINY = {"vocab_size": 21128, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 64, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
        "initializer_range": 0.02, "use_relative_position": True, "max_relative_position": 64}


@pytest.mark.slow
def test_recipe_runs_end_to_end_and_resumes(tmp_path, repo_dir, shared_dir):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    out = tmp_path / "recipe"
    env = dict(os.environ, PY=sys.executable, SHARED=str(shared_dir / "data"), RECIPE_OUTPUT=str(out),
               MODEL_CONFIG=str(config), PRETRAIN_STEPS="3", PRETRAIN_BATCH="4", DUPE_FACTOR="1",
               FINETUNE_EPOCHS="0.01", SEEDS="1 2")
    command = ["bash", str(repo_dir / "scripts" / "pretrain_finetune.sh")]
    result = subprocess.run(command, cwd=repo_dir, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    corpus_lines = set((out / "corpus.txt").read_text(encoding="utf-8").splitlines())
    task = shared_dir / "data" / "chnsenticorp"
    train_text = (task / "train.tsv").read_text(encoding="utf-8")

    def first_sentences(split):
        rows = (task / split).read_text(encoding="utf-8").splitlines()[1:]
        return [split_sentences(row.split("\t")[1])[0] for row in rows if split_sentences(row.split("\t")[1])]

    assert sum(sentence in corpus_lines for sentence in first_sentences("train.tsv")[:200]) >= 190
    unseen_test = [s for s in first_sentences("test.tsv") if len(s) >= 20 and s not in train_text]
    assert len(unseen_test) > 100 and not any(s in corpus_lines for s in unseen_test), \
        "test reviews must not be pretrained on"
    assert (out / "pretrain" / "export" / "model.ckpt-3.index").exists()
    for seed in (1, 2):
        pretrained_log = (out / "chnsenti" / f"pretrained-seed{seed}.log").read_text()
        random_log = (out / "chnsenti" / f"random-seed{seed}.log").read_text()
        assert f"init_checkpoint {out}/pretrain/export/model.ckpt-3:" in pretrained_log
        assert "encoder variables loaded" in pretrained_log
        assert "init_checkpoint" not in random_log
    results = json.loads((out / "results.json").read_text())
    assert [group["name"] for group in results["groups"]] == ["pretrained", "random init"]
    assert all(group["test"]["n"] == 2 for group in results["groups"])
    table = (out / "results.md").read_text()
    assert "| pretrained | 2 |" in table and "| random init | 2 |" in table

    pretrain_log = (out / "pretrain.log").read_text()
    assert "exported TF1 checkpoint" in pretrain_log
    again = subprocess.run(command, cwd=repo_dir, env=env, capture_output=True, text=True, timeout=1200)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "corpus.txt exists" in again.stdout and "records/ exists" in again.stdout
    assert "model.ckpt-3 exists" in again.stdout, "a finished pretraining is not repeated"
    assert (out / "pretrain.log").read_text() == pretrain_log, "the pretraining log survives a rerun"
    assert again.stdout.count(" done") == 4, "finished fine-tuning runs are not repeated"
    assert (out / "results.md").read_text() == table
