"""Seeded mutations of a text file's lines for the fuzz tests of the readers.

Kinds: bytes flipped, a field dropped, a field added, a line cut, the file cut, binary garbage
inserted, an empty file, a 10 MB single line, a wrong label. Each mutant records which original
lines it changed or removed, so a test can check that every example of the others is still read.
"""
import dataclasses
import json
import random
from typing import Callable, List, Optional, Sequence, Set

KINDS = ("flip", "drop_field", "add_field", "cut_line", "cut_file", "garbage", "empty", "big_line", "wrong_label")
BIG_LINE_BYTES = 10 * 2 ** 20
BIG_LINE_CASES = 3  # each takes a second or two: fewer than the other kinds


def case_count(cases_per_kind: int) -> int:
    """How many mutants `mutants` yields."""
    return cases_per_kind * (len(KINDS) - 1) + min(cases_per_kind, BIG_LINE_CASES)


@dataclasses.dataclass
class Mutant:
    kind: str
    data: bytes
    touched: Set[int]  # indices of the original lines changed or removed


def split_fields(separator: bytes, label_field: Optional[int], wrong_labels: Sequence[bytes]):
    """The field mutations of a line of `separator`-separated fields."""
    def mutate(line: bytes, rng: random.Random, kind: str) -> bytes:
        fields = line.split(separator)
        if kind == "drop_field" and len(fields) > 1:
            del fields[rng.randrange(len(fields))]
        elif kind == "add_field":
            fields.insert(rng.randrange(len(fields) + 1), rng.choice([b"", b"extra", "多余".encode()]))
        elif kind == "wrong_label" and label_field is not None and len(fields) > label_field:
            fields[label_field] = rng.choice(list(wrong_labels))
        return separator.join(fields)
    return mutate


def json_object_fields(label_key: str, wrong_labels: Sequence):
    """The field mutations of a line holding one JSON object (JSON lines): a key dropped, a key
    added or overwritten, the label replaced by a wrong value."""
    def mutate(line: bytes, rng: random.Random, kind: str) -> bytes:
        try:
            value = json.loads(line)
        except ValueError:
            return line
        if not isinstance(value, dict):
            return line
        if kind == "drop_field" and value:
            del value[rng.choice(sorted(value))]
        elif kind == "add_field":
            value[rng.choice(["extra", *sorted(value)])] = rng.choice([1, "多余", [], None, {}])
        elif kind == "wrong_label":
            value[label_key] = rng.choice(list(wrong_labels))
        return json.dumps(value, ensure_ascii=False).encode()
    return mutate


def mutants(lines: List[bytes], seed: int, cases_per_kind: int,
            field_mutation: Callable[[bytes, random.Random, str], bytes]):
    """`cases_per_kind` seeded mutants of each kind of the file made of `lines` (each without its end)."""
    rng = random.Random(seed)
    for case in range(cases_per_kind):
        for kind in KINDS:
            if kind != "big_line" or case < BIG_LINE_CASES:
                yield mutate(lines, rng, kind, field_mutation)


def _with_ends(lines: List[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def mutate(lines: List[bytes], rng: random.Random, kind: str, field_mutation) -> Mutant:
    lines = list(lines)
    index = rng.randrange(len(lines))
    touched = {index}
    if kind == "flip":
        touched = set()
        for _ in range(rng.randint(1, 4)):
            index = rng.randrange(len(lines))
            changed = bytearray(lines[index] or b" ")
            position = rng.randrange(len(changed))
            changed[position] ^= rng.randint(1, 255)
            lines[index] = bytes(changed)
            touched.add(index)
    elif kind in ("drop_field", "add_field", "wrong_label"):
        lines[index] = field_mutation(lines[index], rng, kind)
    elif kind == "cut_line":
        lines[index] = lines[index][:rng.randrange(len(lines[index]) + 1)]
    elif kind == "cut_file":
        data = _with_ends(lines)
        position = rng.randrange(len(data))
        first_touched = data.count(b"\n", 0, position)
        return Mutant(kind, data[:position], set(range(first_touched, len(lines))))
    elif kind == "garbage":
        garbage = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        position = rng.randrange(len(lines[index]) + 1)
        lines[index] = lines[index][:position] + garbage + lines[index][position:]
    elif kind == "empty":
        return Mutant(kind, b"", set(range(len(lines))))
    elif kind == "big_line":
        filler = rng.choice([b"x", "好".encode(), lines[index] or b"y"])
        lines[index] = (filler * (BIG_LINE_BYTES // len(filler) + 1))[:BIG_LINE_BYTES - BIG_LINE_BYTES % len(filler)]
    return Mutant(kind, _with_ends(lines), touched)
