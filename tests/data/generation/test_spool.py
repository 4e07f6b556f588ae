"""data/generation/spool.py: frames read back in any order, and never a named file left behind."""

import os
import random

import pytest

from data.generation import spool as spool_module
from data.generation.shuffling import shuffled_order
from data.generation.spool import RecordSpool, write_in_order
from data.generation.tfrecord import tfrecord_frames


def test_spool_reads_frames_back_in_any_order_and_leaves_no_file(tmp_path):
    records = [bytes([k % 251]) * (k % 37) for k in range(1000)]
    with RecordSpool(tmp_path, batch=64) as spool:
        for record in records:
            spool.add(record)
        assert list(tmp_path.iterdir()) == []  # unlinked from the start
        order = shuffled_order(len(records), random.Random(1))
        counts = write_in_order(spool, order, [tmp_path / "a", tmp_path / "b"])
    assert counts == [500, 500]
    expected_a = tfrecord_frames([records[i] for i in order[0::2]])
    assert (tmp_path / "a").read_bytes() == expected_a
    assert (tmp_path / "b").read_bytes() == tfrecord_frames([records[i] for i in order[1::2]])


@pytest.mark.parametrize("unnamed_files", [True, False])
def test_spool_file_is_never_left_under_a_name(tmp_path, monkeypatch, unnamed_files):
    if not unnamed_files:  # the way for systems without O_TMPFILE: named, then unlinked at once
        monkeypatch.delattr(spool_module.os, "O_TMPFILE", raising=False)
    created = []
    real_open = spool_module.os.open

    def open_then_stop(path, flags, mode=0o777):
        created.append(real_open(path, flags, mode))
        raise SystemExit(143)  # what a SIGTERM arriving just after the creation raises

    monkeypatch.setattr(spool_module.os, "open", open_then_stop)
    with pytest.raises(SystemExit):
        spool_module.RecordSpool(tmp_path)
    assert created and list(tmp_path.iterdir()) == []
    monkeypatch.setattr(spool_module.os, "open", real_open)
    for fd in created:
        os.close(fd)
    with spool_module.RecordSpool(tmp_path) as spool:
        spool.add(b"record")
        spool.flush()
        assert list(tmp_path.iterdir()) == []
        assert spool.frame(0) == tfrecord_frames([b"record"])
