"""Fuzzing the task readers and feature converters with seeded mutations of slices of the shared data
and of small files in the CLUE and custom layouts written from them.

Every mutant (tests/data/mutations.py) is either read and converted, or rejected with a DataError
whose one-line message starts with the file, then the line (or for SQuAD JSON the JSON path), then
a reason; any other exception fails the test. When a mutant is read, every example of the lines the
mutation did not touch must be among those read: a well-formed example is never dropped silently.
The counts go to the run's terminal summary (tests/data/conftest.py).
"""
import collections
import json
import re

import pytest

from data.tasks import DataError
from data.tasks import classification, clue, ner, reading
from data.tasks.custom import CustomColumns
from tests.data.mutations import KINDS, case_count, json_object_fields, mutants, split_fields

CASES_PER_KIND = 30  # 243 mutants per format
MAX_CONVERTED_CHARS = 5000  # the 10 MB lines are read, not tokenized (seconds each of pure-Python tokenizing)
MAX_CONVERTED = 100  # examples converted per mutant: a line repeated 10 MB long can hold thousands

# Reasons about a whole file, which no line or JSON path can locate.
FILE_REASONS = ("holds no example", "holds no sentence", "no labelled lines", "not valid JSON: nested too deeply")


def assert_one_line_naming_the_file(error, path, json_path=False):
    """`<path>:<line>: <reason>`, `<path>: <JSON path>: <reason>` (SQuAD) or `<path>: <file reason>`."""
    message = str(error)
    assert "\n" not in message, message
    assert message.startswith(f"{path}:"), message
    rest = message[len(f"{path}:"):]
    located = re.fullmatch(r"(?P<line>[1-9][0-9]*): (?P<reason>.+)", rest)
    if located:
        assert error.line_number == int(located["line"]), message
    elif json_path:
        located = re.fullmatch(r" (?:top level|data(?:\[[0-9]+\]|\.[a-z_]+)*)(?: \(question [^)]*\))?: (?P<reason>.+)",
                               rest)
    if not located:
        located = re.fullmatch(r" (?P<reason>(?:" + "|".join(map(re.escape, FILE_REASONS)) + r").*)", rest)
    assert located, f"neither a line{' nor a JSON path' if json_path else ''} nor a whole-file reason: {message}"
    assert re.search(r"[a-zA-Z]{3,}", located["reason"]), f"no reason: {message}"

def assert_untouched_lines_read(found, key, mutant):
    """Every example of a line the mutation left alone (key: line index -> example) is among `found`:
    a damaged line may be rejected, never a well-formed one dropped."""
    kept = collections.Counter(example for index, example in key.items() if index not in mutant.touched)
    missing = kept - collections.Counter(found)
    assert not missing, f"{mutant.kind}: well-formed examples dropped: {missing}"


def test_the_check_wants_the_file_then_a_line_or_json_path_then_a_reason(tmp_path):
    path = tmp_path / "dev.tsv"
    assert_one_line_naming_the_file(DataError(path, "label 'x' is not in the label set ['0', '1']", 3), path)
    assert_one_line_naming_the_file(DataError(path, "holds no example (an empty file?)"), path)
    squad = DataError(path, "data[0].paragraphs[1].qas[2].id: expected a string, found null")
    assert_one_line_naming_the_file(squad, path, json_path=True)
    for error, json_path in [(DataError(path, "label 'x' is not in the label set ['0', '1']"), False),
                             (DataError(path, ":-(", 3), False), (DataError("other.tsv", "bad label", 3), False),
                             (DataError(path, "bad label\nsecond line", 3), False), (squad, False)]:
        with pytest.raises(AssertionError):
            assert_one_line_naming_the_file(error, path, json_path)


def report(fuzz_summary, name, outcomes):
    counts = collections.Counter(outcomes)
    by_kind = ", ".join(f"{kind} {counts[kind, 'read']}/{counts[kind, 'rejected']}" for kind in KINDS)
    totals = collections.Counter(o for _, o in outcomes)
    fuzz_summary(f"{name}: {len(outcomes)} mutants, {totals['read']} read, {totals['rejected']} rejected "
                 f"(read/rejected by kind: {by_kind})")


def first_lines(path, count):
    with open(path, "rb") as f:
        return [next(f).rstrip(b"\r\n") for _ in range(count)]


# -- classification TSVs ------------------------------------------------------------------
@pytest.mark.parametrize("task,folder,split", [("lcqmc", "lcqmc", "dev"), ("chnsenti", "chnsenticorp", "train"),
                                               ("xnli", "xnli_zh", "dev")])
def test_classification_files(data_dir, tokenizer, tmp_path, fuzz_summary, task, folder, split):
    source = data_dir / folder / "dev.tsv"
    if not source.is_file():
        pytest.skip(f"{source} is absent")
    fmt = classification.task_format(task)
    lines = first_lines(source, 30)
    original = tmp_path / "original.tsv"
    original.write_bytes(b"".join(line + b"\n" for line in lines))
    examples = classification.read_examples(original, fmt, fmt.labels, split)
    header = len(lines) - len(examples)
    assert header in (0, 1)
    key = {header + i: (e.text_a, e.text_b, e.label) for i, e in enumerate(examples)}
    field_mutation = split_fields(b"\t", fmt.label_column, [b"2", b"positive", b"", "矛盾".encode()])
    outcomes = []
    for number, mutant in enumerate(mutants(lines, seed=len(task), cases_per_kind=CASES_PER_KIND,
                                            field_mutation=field_mutation)):
        path = tmp_path / f"{number}.tsv"
        path.write_bytes(mutant.data)
        try:
            read = classification.read_examples(path, fmt, fmt.labels, split, skip_bad_lines=(split == "train"))
            short = [e for e in read if len(e.text_a) + len(e.text_b or "") < MAX_CONVERTED_CHARS][:MAX_CONVERTED]
            classification.convert_examples(short, fmt.labels, 32, tokenizer)
        except DataError as error:
            assert_one_line_naming_the_file(error, path)
            outcomes.append((mutant.kind, "rejected"))
            continue
        assert_untouched_lines_read([(e.text_a, e.text_b, e.label) for e in read], key, mutant)
        outcomes.append((mutant.kind, "read"))
        path.unlink()
    report(fuzz_summary, f"{task} {split}.tsv", outcomes)
    assert len(outcomes) == case_count(CASES_PER_KIND)


# -- NER `char tag` -----------------------------------------------------------------------
def test_ner_files(data_dir, tokenizer, tmp_path, fuzz_summary):
    source = data_dir / "peoples_daily_ner" / "dev.txt"
    if not source.is_file():
        pytest.skip(f"{source} is absent")
    lines, blanks = [], 0
    with open(source, "rb") as f:
        while blanks < 6:
            lines.append(next(f).rstrip(b"\r\n"))
            blanks += not lines[-1].strip()
    spans, start = [], None  # (first, last) line index of each sentence
    for index, line in enumerate(lines + [b""]):
        if line.strip() and start is None:
            start = index
        elif not line.strip() and start is not None:
            spans.append((start, index - 1))
            start = None
    original = tmp_path / "original.txt"
    original.write_bytes(b"".join(line + b"\n" for line in lines))
    sentences = ner.read_sentences(original)
    assert len(sentences) == len(spans) == 6
    field_mutation = split_fields(b" ", 1, [b"B-XYZ", b"o", b"I_PER"])
    outcomes = []
    for number, mutant in enumerate(mutants(lines, seed=7, cases_per_kind=CASES_PER_KIND,
                                            field_mutation=field_mutation)):
        path = tmp_path / f"{number}.txt"
        path.write_bytes(mutant.data)
        try:
            read = ner.read_sentences(path)
            short = [s for s in read if sum(map(len, s.chars)) < MAX_CONVERTED_CHARS][:MAX_CONVERTED]
            ner.convert_sentences(short, ner.PEOPLES_DAILY_LABELS, 32, tokenizer, source=str(path))
        except DataError as error:
            assert_one_line_naming_the_file(error, path)
            outcomes.append((mutant.kind, "rejected"))
            continue
        found = collections.Counter((tuple(s.chars), tuple(s.tags)) for s in read)
        # a sentence is intact when its lines and the blank lines around it are
        kept = collections.Counter((tuple(s.chars), tuple(s.tags)) for s, (first, last) in zip(sentences, spans)
                                   if not mutant.touched & set(range(first - 1, last + 2)))
        assert not kept - found, f"{mutant.kind}: well-formed sentences dropped"
        outcomes.append((mutant.kind, "read"))
        path.unlink()
    report(fuzz_summary, "peoples_daily dev.txt", outcomes)
    assert len(outcomes) == case_count(CASES_PER_KIND)


# -- SQuAD-style JSON -----------------------------------------------------------------------
def squad_lines(dataset):
    """A small SQuAD file laid out one question a line: (lines, {line index: (question key, its header line)}).

    Lines: `{"data": [`, per article `{"paragraphs": [`, per paragraph `{"context": ..., "qas": [`,
    one line per question, then the closing brackets.
    """
    lines, questions = [b'{"version": "fuzz", "data": ['], {}
    for a, article in enumerate(dataset["data"]):
        lines.append(b'{"paragraphs": [')
        for p, paragraph in enumerate(article["paragraphs"]):
            header = len(lines)
            lines.append(b'{"context": ' + json.dumps(paragraph["context"], ensure_ascii=False).encode() + b', "qas": [')
            for q, qa in enumerate(paragraph["qas"]):
                questions[len(lines)] = (question_key(qa, paragraph["context"]), header)
                comma = b"," if q + 1 < len(paragraph["qas"]) else b""
                lines.append(json.dumps(qa, ensure_ascii=False).encode() + comma)
            lines.append(b"]}" + (b"," if p + 1 < len(article["paragraphs"]) else b""))
        lines.append(b"]}" + (b"," if a + 1 < len(dataset["data"]) else b""))
    lines.append(b"]}")
    return lines, questions


def question_key(qa, context):
    return qa["id"], qa["question"], context, tuple(answer["text"] for answer in qa["answers"])


def json_fields(line, rng, kind):
    """Field mutations of a question line: a key dropped, a key added, an answer of the wrong type."""
    body, comma = (line[:-1], b",") if line.endswith(b",") else (line, b"")
    try:
        value = json.loads(body)
    except ValueError:
        return line
    if not isinstance(value, dict):
        return line
    if kind == "drop_field" and value:
        del value[rng.choice(sorted(value))]
    elif kind == "add_field":
        value[rng.choice(["extra", "id", "answers"])] = rng.choice([1, "多余", [], None])
    elif kind == "wrong_label" and isinstance(value.get("answers"), list) and value["answers"]:
        value["answers"][0] = rng.choice([{"text": 3, "answer_start": 0}, {"text": "北京", "answer_start": "0"},
                                          {"answer_start": 1.5}, "北京"])
    return json.dumps(value, ensure_ascii=False).encode() + comma


@pytest.mark.parametrize("training", [True, False])
def test_squad_files(data_dir, tokenizer, tmp_path, fuzz_summary, training):
    source = data_dir / "cmrc2018" / "cmrc2018_dev.json"
    if not source.is_file():
        pytest.skip(f"{source} is absent")
    full = json.loads(source.read_text(encoding="utf-8"))
    small = {"data": [{"paragraphs": [dict(context=p["context"], qas=[{k: qa[k] for k in ("id", "question", "answers")}
                                                                       for qa in p["qas"][:3]])
                                      for p in article["paragraphs"][:2]]} for article in full["data"][:3]]}
    lines, questions = squad_lines(small)
    structure = set(range(len(lines))) - set(questions) - {header for _, header in questions.values()}
    original = tmp_path / "original.json"
    original.write_bytes(b"\n".join(lines))
    keys = {(e.qas_id, e.question, e.context, tuple(e.answers)) for e in reading.read_examples(original, training)}
    assert keys == {key for key, _ in questions.values()}
    outcomes = []
    for number, mutant in enumerate(mutants(lines, seed=11 + training, cases_per_kind=CASES_PER_KIND,
                                            field_mutation=json_fields)):
        path = tmp_path / f"{number}.json"
        path.write_bytes(mutant.data)
        try:
            read = reading.read_examples(path, training)
            short = [e for e in read if len(e.context) + len(e.question) < MAX_CONVERTED_CHARS][:MAX_CONVERTED]
            reading.convert_examples(short, tokenizer, 64, 32, 16, training)
        except DataError as error:
            assert_one_line_naming_the_file(error, path, json_path=True)
            outcomes.append((mutant.kind, "rejected"))
            continue
        found = collections.Counter((e.qas_id, e.question, e.context, tuple(e.answers)) for e in read)
        if not mutant.touched & structure:
            kept = collections.Counter(key for index, (key, header) in questions.items()
                                       if not mutant.touched & {index, header})
            assert not kept - found, f"{mutant.kind}: well-formed questions dropped"
        outcomes.append((mutant.kind, "read"))
        path.unlink()
    report(fuzz_summary, f"cmrc2018 {'train' if training else 'dev'} JSON", outcomes)
    assert len(outcomes) == case_count(CASES_PER_KIND)


# -- JSON lines and the user's own files, written from LCQMC pairs ----------------------------
def lcqmc_pairs(data_dir, count=30):
    source = data_dir / "lcqmc" / "dev.tsv"
    if not source.is_file():
        pytest.skip(f"{source} is absent")
    rows = [line.decode().split("\t") for line in first_lines(source, count)]
    return [(a, b, label) for a, b, label in rows if len(a) >= 6]


def json_line(value):
    return json.dumps(value, ensure_ascii=False).encode()


def wsc_line(index, text, label):
    return json_line({"target": {"span1_index": 0, "span1_text": text[:2], "span2_index": 4, "span2_text": text[4]},
                      "idx": index, "label": "true" if label == "1" else "false", "text": text})


# name, file suffix, the lines from (index, q1, q2, label), the format, a label's wrong values
RECORD_FORMATS = [
    ("afqmc", "json", lambda i, a, b, y: json_line({"sentence1": a, "sentence2": b, "label": y}),
     lambda: classification.task_format("afqmc"), json_object_fields("label", ["2", "", 1.5, None, ["0"], "-"])),
    ("cluewsc2020", "json", lambda i, a, b, y: wsc_line(i, a, y),
     lambda: classification.task_format("cluewsc2020"), json_object_fields("label", ["yes", 1, "", {"true": 1}])),
    ("custom tsv", "tsv", lambda i, a, b, y: "\t".join([y, a, b]).encode(),
     lambda: classification.task_format("custom", CustomColumns("tsv", "q1", "q2", "label", header=True), ["0", "1"]),
     split_fields(b"\t", 0, [b"2", b"", b"pos", "是".encode()])),
    ("custom json", "json", lambda i, a, b, y: json_line({"q": a, "p": b, "y": int(y), "id": i}),
     lambda: classification.task_format("custom", CustomColumns("json", "q", "p", "y"), ["0", "1"]),
     json_object_fields("y", [2, "pos", "", [1], None])),
]


@pytest.mark.parametrize("name, suffix, make_line, make_format, field_mutation", RECORD_FORMATS,
                         ids=[row[0] for row in RECORD_FORMATS])
def test_record_files(data_dir, tokenizer, tmp_path, fuzz_summary, name, suffix, make_line, make_format,
                      field_mutation):
    header = [b"label\tq1\tq2"] if name == "custom tsv" else []
    lines = header + [make_line(i, a, b, y) for i, (a, b, y) in enumerate(lcqmc_pairs(data_dir))]
    fmt = make_format()
    original = tmp_path / f"original.{suffix}"
    original.write_bytes(b"".join(line + b"\n" for line in lines))
    examples = fmt.read(original, fmt.labels, "dev")
    assert len(examples) == len(lines) - len(header)
    key = {len(header) + i: (e.text_a, e.text_b, e.label) for i, e in enumerate(examples)}
    outcomes = []
    for number, mutant in enumerate(mutants(lines, seed=len(name), cases_per_kind=CASES_PER_KIND,
                                            field_mutation=field_mutation)):
        path = tmp_path / f"{number}.{suffix}"
        path.write_bytes(mutant.data)
        try:
            read = fmt.read(path, fmt.labels, "dev")
            short = [e for e in read if len(e.text_a) + len(e.text_b or "") < MAX_CONVERTED_CHARS][:MAX_CONVERTED]
            classification.convert_examples(short, fmt.labels, 32, tokenizer)
        except DataError as error:
            assert_one_line_naming_the_file(error, path)
            outcomes.append((mutant.kind, "rejected"))
            continue
        if not (header and 0 in mutant.touched):  # a header changed or lost: other columns, or read as data
            assert_untouched_lines_read([(e.text_a, e.text_b, e.label) for e in read], key, mutant)
        outcomes.append((mutant.kind, "read"))
        path.unlink()
    report(fuzz_summary, f"{name} dev.{suffix}", outcomes)
    assert len(outcomes) == case_count(CASES_PER_KIND)


def cluener_line(text):
    return json_line({"text": text, "label": {"name": {text[:2]: [[0, 1]]}, "address": {text[3:5]: [[3, 4]]}}})


def test_cluener_files(data_dir, tokenizer, tmp_path, fuzz_summary):
    lines = [cluener_line(a) for a, _, _ in lcqmc_pairs(data_dir)]
    fmt = ner.ner_format("cluener")
    original = tmp_path / "original.json"
    original.write_bytes(b"".join(line + b"\n" for line in lines))
    sentences = fmt.read(original, "dev")
    assert len(sentences) == len(lines)
    key = {i: (tuple(s.chars), tuple(s.tags)) for i, s in enumerate(sentences)}
    wrong = [{"person": {"x": [[0, 0]]}}, {"name": {"不在": [[0, 1]]}}, {"name": {"x": [[0, 999]]}}, "北京", [[0, 1]],
             {"name": {"x": [0, 0]}}, {"name": {"x": [[1, 0]]}}]
    outcomes = []
    for number, mutant in enumerate(mutants(lines, seed=5, cases_per_kind=CASES_PER_KIND,
                                            field_mutation=json_object_fields("label", wrong))):
        path = tmp_path / f"{number}.json"
        path.write_bytes(mutant.data)
        try:
            read = fmt.read(path, "dev")
            short = [s for s in read if len(s.chars) < MAX_CONVERTED_CHARS][:MAX_CONVERTED]
            ner.convert_sentences(short, ner.CLUENER_LABELS, 32, tokenizer, source=str(path))
        except DataError as error:
            assert_one_line_naming_the_file(error, path)
            outcomes.append((mutant.kind, "rejected"))
            continue
        assert_untouched_lines_read([(tuple(s.chars), tuple(s.tags)) for s in read], key, mutant)
        outcomes.append((mutant.kind, "read"))
        path.unlink()
    report(fuzz_summary, "cluener dev.json", outcomes)
    assert len(outcomes) == case_count(CASES_PER_KIND)
