"""Fuzzing create_pretraining_data's text reader (data/generation/corpus.py) with seeded mutations of the shared corpus.

The reader replaces invalid UTF-8 and counts it, so every mutant must be read: no exception, the
bad lines counted, and every sentence of a line the mutation did not touch among the sentences
read, with the same token ids. The counts go to the run's terminal summary (tests/data/conftest.py).
"""
import collections

import pytest

from data.generation.corpus import ReadStats, Source, read_corpus
from data.tokenization import FullTokenizer
from tests.data.mutations import case_count, mutants, split_fields

CASES_PER_KIND = 30
LONG_LINE = 100_000  # characters; such lines are split on spaces, not word-pieced (seconds each of pure Python)


def test_pretraining_text(shared_dir, vocab_file, tmp_path, fuzz_summary):
    source = shared_dir / "data" / "zh_corpus" / "clue_small.txt"
    if not source.is_file() or not vocab_file.is_file():
        pytest.skip(f"{source} or {vocab_file} is absent")
    tokenizer = FullTokenizer(str(vocab_file))
    unknown = tokenizer.vocab["[UNK]"]

    def tokenize(line):
        return tokenizer.tokenize(line) if len(line) < LONG_LINE else line.split()

    def token_id(token):
        return tokenizer.vocab.get(token, unknown)

    with open(source, "rb") as f:
        lines = [next(f).rstrip(b"\n") for _ in range(40)]
    expected = {i: tuple(token_id(t) for t in tokenize(line.decode().strip()))
                for i, line in enumerate(lines) if line.strip()}
    outcomes = collections.Counter()
    field_mutation = split_fields("，".encode(), None, [])
    for number, mutant in enumerate(mutants(lines, seed=3, cases_per_kind=CASES_PER_KIND,
                                            field_mutation=field_mutation)):
        path = tmp_path / f"{number}.txt"
        path.write_bytes(mutant.data)
        stats = ReadStats()
        corpus, _ = read_corpus([Source(str(path))], tokenize, token_id, stats)
        found = collections.Counter(tuple(corpus[d][s]) for d in range(len(corpus)) for s in range(len(corpus[d])))
        kept = collections.Counter(ids for i, ids in expected.items() if i not in mutant.touched and ids)
        assert not kept - found, f"{mutant.kind}: well-formed lines dropped"
        bad = 0
        for raw in mutant.data.split(b"\n"):  # the reader reads bytes: lines end at \n only
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                bad += 1
        assert stats.bad_utf8_lines == bad
        outcomes[mutant.kind, "with invalid UTF-8 replaced and counted" if bad else "clean"] += 1
        path.unlink()
    replaced = sum(count for (_, outcome), count in outcomes.items() if outcome != "clean")
    fuzz_summary(f"clue_small.txt (pretraining text): {sum(outcomes.values())} mutants, all read, {replaced} with "
                 "invalid UTF-8 replaced and counted")
    assert sum(outcomes.values()) == case_count(CASES_PER_KIND)
