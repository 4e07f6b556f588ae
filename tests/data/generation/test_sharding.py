"""data/generation/sharding.py: output names per worker, and stale temporaries of them."""

from pathlib import Path

from data.generation.sharding import remove_stale_temporaries, shard_paths
from fileio.atomic import temporary_name


def test_shard_names():
    assert shard_paths(["a", "b"], 1) == [["a", "b"]]
    assert shard_paths(["a", "b", "c"], 2) == [["a", "c"], ["b"]]
    assert shard_paths(["out"], 2) == [["out-00000-of-00002"], ["out-00001-of-00002"]]


def test_stale_temporaries_of_our_outputs_are_removed(tmp_path):
    output = tmp_path / "out.tfrecord"
    stale = Path(temporary_name(output))
    stale.write_bytes(b"half")
    unrelated = [tmp_path / ".out.tfrecord2.tmp-1-0123abcd", tmp_path / "keep.txt"]
    for path in unrelated:
        path.write_bytes(b"x")
    remove_stale_temporaries(output)
    assert not stale.exists() and all(p.exists() for p in unrelated)
