"""Each process's share of the pretraining records, and where a resumed deterministic run starts."""
import numpy as np
import pytest
import tensorflow as tf

from data.input import records as records_module
from data.input.pretraining_dataset import pretraining_dataset
from tests.training.pretraining_records import random_arrays, write_records

SEQ, PREDS = 16, 4


def write_marked(path, file_number, count):
    """Records whose input_ids[1] is (file number, index) packed as 1000 * file + index + 100."""
    arrays = random_arrays(count, SEQ, PREDS, seed=file_number)
    arrays["input_ids"][:, 1] = 1000 * file_number + np.arange(count) + 100
    return write_records(path, arrays)


def origins(batches):
    marks = np.concatenate([b["input_ids"][:, 1].numpy() for b in batches]) - 100
    return [(int(m) // 1000, int(m) % 1000) for m in marks]


@pytest.fixture
def three_files(tmp_path):
    return [write_marked(tmp_path / f"part{i}.tfrecord", i, count) for i, count in enumerate((7, 5, 9))]


def dataset(files, batch_size=1, **kwargs):
    return pretraining_dataset(files, batch_size, SEQ, PREDS, **kwargs)


def test_one_process_reads_file_after_file_as_before(three_files):
    everything = [(f, i) for f, count in enumerate((7, 5, 9)) for i in range(count)]
    assert origins(dataset(three_files, 3, is_training=False)) == everything
    assert origins(dataset(three_files, deterministic=True).take(30)) == (everything + everything)[:30]


def test_two_ranks_split_one_file_into_disjoint_halves_that_hold_every_record(tmp_path):
    path = write_marked(tmp_path / "only.tfrecord", 0, 7)
    # Evaluation with fewer files than processes works, and sees every record exactly once.
    shares = [origins(dataset([path], 2, is_training=False, num_shards=2, shard_index=rank)) for rank in (0, 1)]
    assert shares == [[(0, i) for i in (0, 2, 4, 6)], [(0, i) for i in (1, 3, 5)]]
    training = [origins(dataset([path], deterministic=True, num_shards=2, shard_index=rank).take(4))
                for rank in (0, 1)]
    assert training == [[(0, i) for i in (0, 2, 4, 6)], [(0, i) for i in (1, 3, 5, 1)]]


@pytest.mark.parametrize("deterministic", [True, False])
def test_two_ranks_over_three_files_each_read_from_every_file(three_files, deterministic):
    seen = []
    for rank in (0, 1):
        batches = dataset(three_files, 3, deterministic=deterministic, num_shards=2, shard_index=rank).take(8)
        read = origins(batches)
        assert {f for f, _ in read} == {0, 1, 2}
        assert all(i % 2 == rank for _, i in read), "a rank reads only its own records"
        seen.append(set(read))
    assert not seen[0] & seen[1]


@pytest.mark.parametrize("num_shards, shard_index", [(1, 0), (2, 1)])
@pytest.mark.parametrize("skip_batches", [0, 1, 4, 7, 11, 23])
def test_a_resumed_stream_continues_the_uninterrupted_one(three_files, num_shards, shard_index, skip_batches):
    def batches(skip, count):
        return origins(dataset(three_files, 2, deterministic=True, skip_batches=skip, num_shards=num_shards,
                               shard_index=shard_index).take(count))

    assert batches(skip_batches, 6) == batches(0, skip_batches + 6)[2 * skip_batches:]


def test_a_resume_passes_over_whole_files_without_reading_them(three_files, monkeypatch):
    read = []
    original = records_module.records_with_origin

    def logged(path, num_shards=1, shard_index=0, read_file=None):
        def log(path, index, record):
            tf.py_function(lambda p: read.append(p.numpy().decode()), [path], [])
            return path, index, record
        return original(path, num_shards, shard_index, read_file).map(log)

    monkeypatch.setattr(records_module, "records_with_origin", logged)
    # 7 + 5 records of the first two files, then 3 of the third: one batch of 3 later the third file's 4th.
    resumed = dataset(three_files, 3, deterministic=True, skip_batches=5)
    assert origins(resumed.take(1)) == [(2, 3), (2, 4), (2, 5)]
    # The 3 records skipped in the third file and the 3 of the batch come first (read-ahead may follow).
    assert read[:6] == [three_files[2]] * 6, "the skipped files were read record by record"
