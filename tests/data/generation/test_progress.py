"""data/generation/progress.py: progress lines with rates and ETA, and the closing summary."""

import io

from data.generation.corpus import ReadStats
from data.generation.progress import Progress, print_summary
from data.generation.workers import WorkerResult


def test_progress_reports_rates_and_eta():
    stream = io.StringIO()
    progress = Progress("cpd", total_bytes=4_000_000, interval=0.0, stream=stream)
    progress.on_bytes(1_000_000)
    progress.start_instances(num_documents=10, rounds=2)
    progress.on_document(3)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[cpd] reading: 1.0 of 4.0 MB") and "ETA" in lines[0]
    assert "10 documents x 2 rounds" in lines[1]
    assert lines[2].startswith("[cpd] instances: 3 (") and "documents 1/20" in lines[2] and "ETA" in lines[2]


def test_summary_warns_of_invalid_utf8_and_lists_every_output():
    stats = ReadStats(bad_utf8_files={"in.txt": (2, 7)})
    results = [WorkerResult(0, 3, [4, 5], stats), WorkerResult(1, 2, [6], ReadStats())]
    stream = io.StringIO()
    print_summary({"a": 4, "b": 5, "c": 6}, results, 2.0, 0, 2, "HOROVOD_RANK/HOROVOD_SIZE", stream)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "warning: in.txt: 2 line(s) of invalid UTF-8, bad bytes replaced (first at line 7)"
    assert lines[1] == ("task 1 of 2 (HOROVOD_RANK/HOROVOD_SIZE): wrote 15 instances from 5 documents in 2.0s "
                        "(8 instances/s):")
    assert lines[2:5] == ["  a: 4 instances", "  b: 5 instances", "  c: 6 instances"]
    assert lines[5] == "2 tasks share this run; each reports (and renames) its own shards"
