"""data/generation/progress.py: progress lines with rates and ETA."""

import io

from data.generation.progress import Progress


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
