"""The entry script: byte-identical reference outputs, workers, atomic output and bad input."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from data.generation import planning, workers
from tests.script_probe import modules_after_script
from data.generation.config import GeneratorConfig, PretrainingDataError
from data.generation.generator import generate

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "create_pretraining_data.py"


def run_script(*flags):
    return subprocess.run([sys.executable, str(SCRIPT), *flags], cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def cpd_fixtures(fixtures_dir):
    return fixtures_dir / "cpd_public"


REFERENCE_RUNS = {
    "orig_seed12345": (["orig_seed12345.tfrecord"],
                       ["--max_seq_length=128", "--max_predictions_per_seq=20", "--masked_lm_prob=0.15",
                        "--random_seed=12345", "--dupe_factor=3"]),
    "orig_seed7": (["orig_seed7_a.tfrecord", "orig_seed7_b.tfrecord", "orig_seed7_c.tfrecord"],
                   ["--max_seq_length=64", "--max_predictions_per_seq=10", "--masked_lm_prob=0.2",
                    "--short_seq_prob=0.3", "--random_seed=7", "--dupe_factor=2"]),
    "google_wwm_seed3": (["google_wwm_seed3.tfrecord"],
                         ["--do_whole_word_mask=True", "--max_seq_length=128", "--max_predictions_per_seq=20",
                          "--masked_lm_prob=0.15", "--random_seed=3", "--dupe_factor=2"]),
}


@pytest.mark.parametrize("name", sorted(REFERENCE_RUNS))
def test_outputs_are_byte_identical_to_the_original(name, cpd_fixtures, vocab_file, tmp_path):
    references, flags = REFERENCE_RUNS[name]
    outputs = [tmp_path / r for r in references]
    result = run_script(f"--input_file={cpd_fixtures / 'corpus.txt'}", f"--vocab_file={vocab_file}",
                        "--do_lower_case=True", "--output_file=" + ",".join(map(str, outputs)), *flags)
    assert result.returncode == 0, result.stderr
    for output, reference in zip(outputs, references):
        assert output.read_bytes() == (cpd_fixtures / reference).read_bytes(), reference
    # The final summary names every output with its count.
    for output in outputs:
        assert f"{output}: " in result.stderr


def _toy_corpus(directory, documents=40, name="corpus.txt"):
    """Documents whose first sentence carries a marker word d<k> that is in the toy vocabulary."""
    lines = []
    for k in range(documents):
        lines += [f"d{k} x y z", "x y x y", "z z x y x", ""]
    path = directory / name
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def toy_vocab(tmp_path):
    path = tmp_path / "vocab.txt"
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "x", "y", "z"] + [f"d{k}" for k in range(100)]
    path.write_text("\n".join(words) + "\n", encoding="utf-8")
    return path


def _run(corpus, outputs, vocab, workers, **config):
    config = GeneratorConfig(**{"max_seq_length": 64, "dupe_factor": 2, **config})
    return generate(str(corpus), [str(o) for o in outputs], str(vocab), None, True, config, 11, workers,
                    show_progress=False)


def _read_instances(paths):
    tf = pytest.importorskip("tensorflow")
    instances = []
    for path in paths:
        for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            feature = tf.train.Example.FromString(record).features.feature
            ids = list(feature["input_ids"].int64_list.value)
            for position, label in zip(feature["masked_lm_positions"].int64_list.value,
                                       feature["masked_lm_ids"].int64_list.value):
                if feature["masked_lm_weights"].float_list.value and label:
                    ids[position] = label
            instances.append((ids, list(feature["segment_ids"].int64_list.value)))
    return instances


def test_two_workers_are_deterministic_and_use_every_document(tmp_path, toy_vocab):
    corpus = _toy_corpus(tmp_path)
    first, second = tmp_path / "one" / "out.tfrecord", tmp_path / "two" / "out.tfrecord"
    summary, _ = _run(corpus, [first], toy_vocab, 2)
    _run(corpus, [second], toy_vocab, 2)
    shards = [Path(f"{first}-0000{w}-of-00002") for w in range(2)]
    assert list(summary) == [str(s) for s in shards] and all(count > 0 for count in summary.values())
    for shard in shards:
        assert shard.read_bytes() == Path(str(shard).replace("/one/", "/two/")).read_bytes()
    assert not first.exists()
    # Every document's first sentence (with its marker) starts an A segment in some instance.
    vocab = toy_vocab.read_text().split("\n")
    markers = set()
    for ids, segments in _read_instances(shards):
        markers.update(vocab[i] for i, s in zip(ids, segments) if s == 0 and vocab[i].startswith("d"))
    assert markers == {f"d{k}" for k in range(40)}
    # Splitting over workers changes the rng stream: not the single-process output.
    single = tmp_path / "single.tfrecord"
    _run(corpus, [single], toy_vocab, 1)
    assert single.read_bytes() != shards[0].read_bytes()


def test_workers_by_input_file_with_enough_outputs(tmp_path, toy_vocab):
    files = [_toy_corpus(tmp_path, 10, f"part{i}.txt") for i in range(3)]
    outputs = [tmp_path / f"o{i}.tfrecord" for i in range(2)]
    summary, results = _run(",".join(map(str, files)), outputs, toy_vocab, 2)
    assert list(summary) == [str(outputs[0]), str(outputs[1])]
    # As in the original, a document runs on into the next file unless a blank line ends it:
    # the worker given two files sees 19 documents, not 20.
    assert sorted(r.documents for r in results) == [10, 19]


def test_failed_run_leaves_no_finished_looking_file(tmp_path, toy_vocab, monkeypatch):
    corpus = _toy_corpus(tmp_path)
    real_writer = workers.write_in_order

    def write_then_fail(spool, order, paths):
        real_writer(spool, order, paths)  # temporaries fully written ...
        raise KeyboardInterrupt  # ... and then the run is interrupted

    monkeypatch.setattr(workers, "write_in_order", write_then_fail)
    out_dir = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        _run(corpus, [out_dir / "a.tfrecord", out_dir / "b.tfrecord"], toy_vocab, 1)
    assert list(out_dir.iterdir()) == []


def test_chinese_wwm_flag_runs_end_to_end(tmp_path, vocab_file, shared_dir):
    corpus = tmp_path / "zh.txt"
    with open(shared_dir / "data" / "zh_corpus" / "clue_small.txt", encoding="utf-8") as source:
        corpus.write_text("".join(line for _, line in zip(range(300), source)), encoding="utf-8")
    runs = {}
    for wwm in (False, True):
        output = tmp_path / f"wwm_{wwm}.tfrecord"
        result = run_script(f"--input_file={corpus}", f"--output_file={output}", f"--vocab_file={vocab_file}",
                            f"--chinese_wwm={wwm}", "--dupe_factor=1", "--progress=false")
        assert result.returncode == 0, result.stderr
        runs[wwm] = _masked_runs(output)
    # Whole words make adjacent masked positions far more common than single-character masking.
    assert runs[True] > 2 * runs[False]


def _masked_runs(path):
    tf = pytest.importorskip("tensorflow")
    adjacent = 0
    for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
        feature = tf.train.Example.FromString(record).features.feature
        weights = feature["masked_lm_weights"].float_list.value
        positions = [p for p, w in zip(feature["masked_lm_positions"].int64_list.value, weights) if w]
        adjacent += sum(b == a + 1 for a, b in zip(positions, positions[1:]))
    return adjacent


# ---- bad input: one clear line, exit 1, nothing written -------------------------------------------

def _bad_run(tmp_path, vocab, corpus, *flags):
    output = tmp_path / "out.tfrecord"
    result = run_script(f"--input_file={corpus}", f"--output_file={output}", f"--vocab_file={vocab}", *flags)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert not output.exists() and not list(tmp_path.glob(".out.tfrecord*"))
    return result.stderr.strip().splitlines()[-1]


def test_missing_input_file(tmp_path, toy_vocab):
    message = _bad_run(tmp_path, toy_vocab, tmp_path / "absent.txt")
    assert message == f"create_pretraining_data: error: input file not found: {tmp_path / 'absent.txt'}"


def test_glob_matching_nothing(tmp_path, toy_vocab):
    assert "input pattern matches no file" in _bad_run(tmp_path, toy_vocab, tmp_path / "nothing*.txt")


def test_missing_vocab_file(tmp_path):
    corpus = _toy_corpus(tmp_path)
    assert "vocabulary file not found" in _bad_run(tmp_path, tmp_path / "absent_vocab.txt", corpus)


def test_empty_corpus(tmp_path, toy_vocab):
    corpus = tmp_path / "empty.txt"
    corpus.write_text("\n\n   \n", encoding="utf-8")
    assert "no document with a non-empty line" in _bad_run(tmp_path, toy_vocab, corpus)


def test_max_seq_length_too_small(tmp_path, toy_vocab):
    corpus = _toy_corpus(tmp_path)
    assert "max_seq_length=4 is too small" in _bad_run(tmp_path, toy_vocab, corpus, "--max_seq_length=4")


@pytest.mark.parametrize("prob", ["0", "1.5"])
def test_masked_lm_prob_out_of_range(tmp_path, toy_vocab, prob):
    corpus = _toy_corpus(tmp_path)
    assert "must be in (0, 1]" in _bad_run(tmp_path, toy_vocab, corpus, f"--masked_lm_prob={prob}")


def test_bad_group_size_and_task_flags(tmp_path, toy_vocab):
    corpus = _toy_corpus(tmp_path)
    assert "--group_size_mb=0.0 must be positive" in _bad_run(tmp_path, toy_vocab, corpus, "--group_size_mb=0")
    assert "give both --task_index and --num_tasks" in _bad_run(tmp_path, toy_vocab, corpus, "--task_index=1")
    assert "task 2 of 2" in _bad_run(tmp_path, toy_vocab, corpus, "--task_index=2", "--num_tasks=2")


def test_invalid_utf8_is_replaced_counted_and_named(tmp_path, toy_vocab):
    corpus = tmp_path / "bad.txt"
    corpus.write_bytes(b"d1 x y\nx \xff\xfe y\n\nd2 z z\nz \xc3 x\n")
    output = tmp_path / "out.tfrecord"
    result = run_script(f"--input_file={corpus}", f"--output_file={output}", f"--vocab_file={toy_vocab}",
                        "--max_seq_length=16", "--dupe_factor=2")
    assert result.returncode == 0, result.stderr
    assert f"warning: {corpus}: 2 line(s) of invalid UTF-8" in result.stderr
    assert "first at line 2" in result.stderr
    assert output.stat().st_size > 0


_MODULES_AFTER_RUN = modules_after_script("create_pretraining_data.py", "tensorflow")


def test_a_run_never_imports_tensorflow(tmp_path, toy_vocab):
    """The README's promise: data generation needs no GPU pinning under a launcher, because
    TensorFlow (which would take GPU memory) is never imported."""
    output = tmp_path / "out.tfrecord"
    result = subprocess.run([sys.executable, "-c", _MODULES_AFTER_RUN, f"--input_file={_toy_corpus(tmp_path)}",
                             f"--output_file={output}", f"--vocab_file={toy_vocab}", "--max_seq_length=64"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert output.stat().st_size > 0, "the run wrote records"
    assert "TENSORFLOW_MODULES=\n" in result.stdout, result.stdout[-3000:]


def test_help_documents_shard_naming():
    text = " ".join(run_script("--helpfull").stdout.split())
    assert "NAME-00000-of-0000N" in text and "chinese_wwm" in text and "--num_workers" in text
    assert "HOROVOD_RANK" in text and "--group_size_mb" in text and "--spool_dir" in text


def test_sentencepiece_vocabulary_end_to_end(tmp_path):
    sentencepiece = pytest.importorskip("sentencepiece")
    corpus = _toy_corpus(tmp_path, documents=30)
    sentencepiece.SentencePieceTrainer.Train(
        input=str(corpus), model_prefix=str(tmp_path / "spm"), vocab_size=24, model_type="unigram",
        user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"], minloglevel=2)
    output = tmp_path / "spm.tfrecord"
    result = run_script(f"--input_file={corpus}", f"--output_file={output}",
                        f"--spm_model_file={tmp_path / 'spm.model'}", "--max_seq_length=32", "--dupe_factor=1")
    assert result.returncode == 0, result.stderr
    instances = _read_instances([output])
    processor = sentencepiece.SentencePieceProcessor(model_file=str(tmp_path / "spm.model"))
    cls_id = processor.PieceToId("[CLS]")
    assert instances and all(ids[0] == cls_id for ids, _ in instances)


# ---- groups, tasks, launchers ------------------------------------------------------------------------

def _group_run(corpus, output, vocab, workers=1, group_bytes=300, task_index=0, num_tasks=1):
    config = GeneratorConfig(max_seq_length=64, dupe_factor=2)
    return generate(str(corpus), [str(output)], str(vocab), None, True, config, 11, workers, show_progress=False,
                    group_bytes=group_bytes, task_index=task_index, num_tasks=num_tasks)


def _files(directory):
    return {p.name: p.read_bytes() for p in sorted(Path(directory).iterdir())}


def test_each_group_is_the_reference_output_of_that_group_alone(tmp_path, toy_vocab):
    corpus = _toy_corpus(tmp_path, documents=60)
    summary, results = _group_run(corpus, tmp_path / "grouped" / "out.tfrecord", toy_vocab, workers=2)
    groups = planning.plan_groups([str(corpus)], 300)
    assert len(groups) == len(summary) >= 5
    text = corpus.read_bytes()
    for g, group in enumerate(groups):
        shard = tmp_path / "grouped" / f"out.tfrecord-{g:05d}-of-{len(groups):05d}"
        assert summary[str(shard)] > 0
        alone = tmp_path / f"group{g}.txt"
        alone.write_bytes(text[group.start:group.end])
        reference = tmp_path / "reference" / f"{g}.tfrecord"
        config = GeneratorConfig(max_seq_length=64, dupe_factor=2)
        generate(str(alone), [str(reference)], str(toy_vocab), None, True, config,
                 planning.group_seed(11, g), 1, show_progress=False)
        assert shard.read_bytes() == reference.read_bytes(), g
    # Deterministic, and the same whatever the number of workers.
    _group_run(corpus, tmp_path / "again" / "out.tfrecord", toy_vocab, workers=1)
    assert _files(tmp_path / "again") == _files(tmp_path / "grouped")


def test_tasks_together_write_what_one_process_writes(tmp_path, toy_vocab):
    corpus = _toy_corpus(tmp_path, documents=45)
    summary, _ = _group_run(corpus, tmp_path / "one" / "out.tfrecord", toy_vocab)
    count = len(summary)
    assert count >= 4
    for task in range(3):
        summary, _ = _group_run(corpus, tmp_path / "three" / "out.tfrecord", toy_vocab, task_index=task, num_tasks=3)
        assert list(summary) == [str(tmp_path / "three" / f"out.tfrecord-{g:05d}-of-{count:05d}")
                                 for g in range(task, count, 3)]
    assert _files(tmp_path / "three") == _files(tmp_path / "one")
    # Without groups, T tasks of W workers are the T*W workers of one process.
    _run(corpus, [tmp_path / "workers" / "out.tfrecord"], toy_vocab, 2)
    for task in range(2):
        config = GeneratorConfig(max_seq_length=64, dupe_factor=2)
        generate(str(corpus), [str(tmp_path / "tasks" / "out.tfrecord")], str(toy_vocab), None, True, config, 11, 1,
                 show_progress=False, task_index=task, num_tasks=2)
    assert _files(tmp_path / "tasks") == _files(tmp_path / "workers")


@pytest.mark.slow
@pytest.mark.horovod
def test_horovodrun_ranks_write_the_records_of_one_process(tmp_path, toy_vocab):
    runner = Path(sys.executable).with_name("horovodrun")
    if not runner.exists():
        pytest.skip(f"{runner} is absent: horovod's launcher is needed for this test")
    corpus = _toy_corpus(tmp_path, documents=60)
    flags = [f"--input_file={corpus}", f"--vocab_file={toy_vocab}", "--max_seq_length=64", "--dupe_factor=2",
             "--group_size_mb=0.0003"]
    single = run_script(*flags, f"--output_file={tmp_path / 'one' / 'out.tfrecord'}")
    assert single.returncode == 0, single.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOROVOD_", "OMPI_", "PMI_"))}
    result = subprocess.run([str(runner), "-np", "2", "-H", "localhost:2", "--gloo", sys.executable, str(SCRIPT),
                             *flags, f"--output_file={tmp_path / 'two' / 'out.tfrecord'}"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    output = result.stdout + result.stderr
    assert "task 1 of 2 (HOROVOD_RANK/HOROVOD_SIZE)" in output and "task 2 of 2 (HOROVOD_RANK/HOROVOD_SIZE)" in output
    assert len(_files(tmp_path / "one")) >= 5
    assert _files(tmp_path / "two") == _files(tmp_path / "one")


# ---- progress and interruption --------------------------------------------------------------------------

def _start_long_run(tmp_path, toy_vocab, output, *flags):
    corpus = _toy_corpus(tmp_path, documents=4000, name="big.txt")
    process = subprocess.Popen([sys.executable, str(SCRIPT), f"--input_file={corpus}", f"--output_file={output}",
                                f"--vocab_file={toy_vocab}", "--max_seq_length=32", "--dupe_factor=50", *flags],
                               cwd=REPO, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:  # wait until instances are being made (and spooled)
        if "making instances" in line:
            return process
    raise AssertionError(f"the run ended before making instances: exit {process.wait()}")


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_run_leaves_no_finished_looking_file(tmp_path, toy_vocab, how):
    out_dir = tmp_path / "out"
    output = out_dir / "train.tfrecord"
    process = _start_long_run(tmp_path, toy_vocab, output)
    process.send_signal(how)
    assert process.wait(timeout=60) != 0
    process.stderr.close()
    left = sorted(p.name for p in out_dir.iterdir())
    # Nothing under an output's name; the spool was never named; after SIGKILL only a hidden temporary ...
    assert (left == [] if how == signal.SIGTERM else all(n.startswith(".train.tfrecord.tmp-") for n in left)), left
    # ... which the next run of the same output removes.
    result = run_script(f"--input_file={tmp_path / 'big.txt'}", f"--output_file={output}",
                        f"--vocab_file={toy_vocab}", "--max_seq_length=32", "--dupe_factor=1")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["train.tfrecord"]


def test_progress_lines_name_the_phase_rate_and_eta(tmp_path, toy_vocab):
    corpus = _toy_corpus(tmp_path, documents=30)
    result = run_script(f"--input_file={corpus}", f"--output_file={tmp_path / 'o' / 'out.tfrecord'}",
                        f"--vocab_file={toy_vocab}", "--max_seq_length=32", "--dupe_factor=1", "--group_size_mb=0.0003",
                        "--num_workers=2")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    count = len(planning.plan_groups([str(corpus)], 300))
    assert f"[groups] {count} group(s) of at most 0.0003 MB from 1 file(s); this process runs {count} of them " \
           "with 2 worker(s)" in lines
    # whole lines only: two workers share stderr, and a line written in two parts could be cut by another
    assert not [line for line in lines if line.count("[group ") > 1], result.stderr
    assert any(line.startswith(f"[group 1/{count}] made ") for line in lines)
    assert any(line.startswith(f"[groups] {count}/{count} groups done: ") and "MB of text/s, ETA" in line
               for line in lines)
    assert "wrote " in lines[-count - 1] and all(line.startswith("  ") for line in lines[-count:])
