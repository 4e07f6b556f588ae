"""data/generation/planning.py: byte ranges and groups cut at document boundaries, balanced plans, seeds."""

import random

from data.generation.corpus import Source
from data.generation.planning import last_document_start, next_document_start, plan_groups, plan_sources, worker_rng
from tests.data.generation.generation_reference import read_documents


def _write(path, text):
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def test_document_boundaries_and_byte_range_plans(tmp_path):
    text = "a1\na2\n\nb1\nb2\nb3\n\nc1\n\n\nd1\nd2\n"
    path = _write(tmp_path / "in.txt", text)
    assert next_document_start(path, 0) == 0
    assert next_document_start(path, 1) == text.index("b1")
    assert next_document_start(path, text.index("b2")) == text.index("c1")
    assert next_document_start(path, len(text) - 2) == len(text)
    for workers in (2, 3, 4):
        plans = plan_sources([path], workers)
        assert len(plans) == workers
        # Workers' documents together are exactly the documents of a single reader.
        together = []
        for plan in plans:
            documents, _ = read_documents(plan, str.split)
            together.extend(documents)
        single, _ = read_documents([Source(path)], str.split)
        assert together == single


def test_whole_file_plans_balance_by_size(tmp_path):
    files = [_write(tmp_path / f"f{i}.txt", "x\n" * size) for i, size in enumerate([5, 50, 10, 40])]
    plans = plan_sources(files, 2)
    assert sorted(s.path for plan in plans for s in plan) == sorted(files)
    # Greedy, largest first: 50 -> w0, 40 -> w1, 10 -> w1, 5 -> w0; each worker keeps input order.
    assert plans == [[Source(files[0]), Source(files[1])], [Source(files[2]), Source(files[3])]]
    assert plan_sources(files, 1) == [[Source(f) for f in files]]


def test_groups_are_whole_documents_of_at_most_the_group_size(tmp_path):
    rng = random.Random(4)
    lines = []
    for k in range(200):
        lines += [f"d{k} " + "x" * rng.randint(0, 30) for _ in range(rng.randint(1, 5))] + [""]
    lines[50:50] = ["long " * 100]  # one document longer than a group
    text = "\n".join(lines) + "\n"
    path = _write(tmp_path / "in.txt", text)
    other = _write(tmp_path / "other.txt", "e1\n\ne2\n")  # no blank line at its end
    assert last_document_start(path, 0, 3) is None
    assert last_document_start(path, 0, len(text)) == len(text)
    groups = plan_groups([path, other], 300)
    assert groups[-1] == Source(other, 0, len("e1\n\ne2\n"))  # a group never spans two files
    mine = groups[:-1]
    assert mine[0].start == 0 and mine[-1].end == len(text)
    assert all(a.end == b.start for a, b in zip(mine, mine[1:]))
    oversized = [g for g in mine if g.size() > 300]
    assert len(oversized) == 1 and "long " * 100 in text[oversized[0].start:oversized[0].end]
    single, _ = read_documents([Source(path)], str.split)
    together = []
    for group in mine:
        assert group.start == 0 or text[:group.start].endswith("\n\n")  # cut right after a blank line
        together.extend(read_documents([group], str.split)[0])
    assert together == single
    # The next cut is the last document start that fits: one more document would not.
    for a, b in zip(mine, mine[1:]):
        if a.size() <= 300:
            assert next_document_start(path, b.start + 1) - a.start > 300


def test_one_worker_draws_the_original_seed_and_workers_their_own():
    assert worker_rng(5, 0, 1).random() == random.Random(5).random()
    assert worker_rng(5, 0, 2).random() != worker_rng(5, 1, 2).random()
