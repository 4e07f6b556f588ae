"""The CLUE benchmark's JSON-lines files read as its tasks define them: the classification tasks'
texts and fixed label sets (CLUEWSC2020's two spans marked as the CLUE baselines mark them), and
CLUENER2020's labelled spans as character BIO tags and back.

Facts from the CLUE baselines (CLUEbenchmark/CLUE, baselines/models/classifier_utils.py): CSL's text
a is its keywords joined by spaces and text b its abstract; CLUEWSC2020 puts `_` before and after
span1 and `[` `]` around span2 in the text; TNEWS's labels are the codes 100-116 without 105 and 111;
CMNLI/OCNLI examples labelled `-` (no gold label) are left out.
"""

import dataclasses
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from data.tasks.errors import DataError
from data.tasks.records import Record, json_field, json_label, read_json_lines

SPLIT_FILES = {"train": "train.json", "dev": "dev.json", "test": "test.json"}

# A label meaning "the annotators did not agree": such examples have no gold label.
NO_GOLD_LABEL = "-"

BINARY_LABELS = ("0", "1")
NLI_LABELS = ("contradiction", "entailment", "neutral")
TNEWS_LABELS = tuple(str(code) for code in range(100, 117) if code not in (105, 111))
IFLYTEK_LABELS = tuple(str(code) for code in range(119))
WSC_LABELS = ("true", "false")

# CLUEWSC2020's markers, as the CLUE baselines insert them.
SPAN1_MARKERS = ("_", "_")
SPAN2_MARKERS = ("[", "]")

CLUENER_TYPES = ("address", "book", "company", "game", "government", "movie", "name", "organization",
                 "position", "scene")


def pair_texts(value, path, line_number):
    return (json_field(value, "sentence1", path, line_number),
            json_field(value, "sentence2", path, line_number))


def sentence_text(value, path, line_number):
    return json_field(value, "sentence", path, line_number), None


def csl_texts(value, path, line_number):
    keywords = json_field(value, "keyword", path, line_number, list)
    if not all(isinstance(keyword, str) for keyword in keywords):
        raise DataError(path, "field 'keyword' should be a list of strings", line_number)
    return " ".join(keywords), json_field(value, "abst", path, line_number)


def _checked_span(text, target, name, path, line_number):
    index = json_field(target, f"{name}_index", path, line_number, int)
    span = json_field(target, f"{name}_text", path, line_number)
    if not span or index < 0 or text[index:index + len(span)] != span:
        raise DataError(path, f"target.{name}_text {span!r} is not at target.{name}_index {index} of the text "
                              f"(found {text[index:index + len(span)]!r})", line_number)
    return index, index + len(span)


def wsc_texts(value, path, line_number):
    text = json_field(value, "text", path, line_number)
    target = json_field(value, "target", path, line_number, dict)
    spans = [(*_checked_span(text, target, "span1", path, line_number), SPAN1_MARKERS),
             (*_checked_span(text, target, "span2", path, line_number), SPAN2_MARKERS)]
    spans.sort()
    if spans[0][1] > spans[1][0]:
        raise DataError(path, "target.span1 and target.span2 overlap in the text", line_number)
    pieces, position = [], 0
    for start, end, (opening, closing) in spans:
        pieces += [text[position:start], opening, text[start:end], closing]
        position = end
    pieces.append(text[position:])
    return "".join(pieces), None


@dataclasses.dataclass(frozen=True)
class ClueTask:
    """One CLUE classification task: how a line gives its texts, and its label set."""

    texts: Callable[[dict, str, int], Tuple[str, Optional[str]]]
    labels: Tuple[str, ...]
    skip_labels: frozenset = frozenset()

    def records(self, path, split="train") -> Iterator[Record]:  # split unused: CLUE lays out every split alike
        for line_number, value in read_json_lines(path):
            text_a, text_b = self.texts(value, path, line_number)
            yield Record(line_number, text_a, text_b, json_label(value, "label", path, line_number), value.get("id"))


CLASSIFICATION_TASKS = {
    "afqmc": ClueTask(pair_texts, BINARY_LABELS),
    "cmnli": ClueTask(pair_texts, NLI_LABELS, frozenset({NO_GOLD_LABEL})),
    "ocnli": ClueTask(pair_texts, NLI_LABELS, frozenset({NO_GOLD_LABEL})),
    "tnews": ClueTask(sentence_text, TNEWS_LABELS),
    "iflytek": ClueTask(sentence_text, IFLYTEK_LABELS),
    "csl": ClueTask(csl_texts, BINARY_LABELS),
    "cluewsc2020": ClueTask(wsc_texts, WSC_LABELS),
}


def submission_file(task_name):
    """The name the CLUE baselines give a task's predictions on its test set."""
    return f"{task_name}_predict.json"


def cluener_tag_names() -> List[str]:
    return [f"{prefix}-{entity_type}" for entity_type in CLUENER_TYPES for prefix in ("B", "I")]


def _span_bounds(span, where, path, line_number):
    if (not isinstance(span, list) or len(span) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in span)):
        raise DataError(path, f"{where}: a span should be [start, end], found {span!r}", line_number)
    return span


def cluener_tags(value, path, line_number) -> Tuple[str, List[str]]:
    """The text of a CLUENER2020 line and its character BIO tags. Offsets are inclusive; a span
    outside the text, not reading its entity text, or overlapping another span is an error."""
    text = json_field(value, "text", path, line_number)
    labels = value.get("label") or {}
    if not isinstance(labels, dict):
        raise DataError(path, f"field 'label' should be an object, found {type(labels).__name__}", line_number)
    tags = ["O"] * len(text)
    owner: List[Optional[tuple]] = [None] * len(text)
    for entity_type, entities in labels.items():
        if entity_type not in CLUENER_TYPES:
            raise DataError(path, f"unknown entity type {entity_type!r} (CLUENER2020's: {', '.join(CLUENER_TYPES)})",
                            line_number)
        if not isinstance(entities, dict):
            raise DataError(path, f"label.{entity_type} should map entity texts to spans", line_number)
        for entity, spans in entities.items():
            where = f"{entity_type} {entity!r}"
            if not isinstance(spans, list):
                raise DataError(path, f"{where}: expected a list of spans, found {spans!r}", line_number)
            for span in spans:
                start, end = _span_bounds(span, where, path, line_number)
                if not 0 <= start <= end < len(text):
                    raise DataError(path, f"{where}: span [{start}, {end}] is outside the text (length {len(text)})",
                                    line_number)
                if text[start:end + 1] != entity:
                    raise DataError(path, f"{where}: span [{start}, {end}] reads {text[start:end + 1]!r} in the text",
                                    line_number)
                this = (entity_type, start, end)
                for i in range(start, end + 1):
                    if owner[i] is not None and owner[i] != this:
                        other_type, other_start, other_end = owner[i]
                        raise DataError(path, f"{where}: span [{start}, {end}] overlaps {other_type} span "
                                              f"[{other_start}, {other_end}]", line_number)
                    owner[i] = this
                    tags[i] = ("B-" if i == start else "I-") + entity_type
    return text, tags


def tags_to_spans(text, tags) -> Dict[str, Dict[str, List[List[int]]]]:
    """BIO tags back to CLUENER2020's `label` form, {type: {entity text: [[start, end], ...]}}; an I-
    tag that does not continue an entity of its type starts one."""
    spans: Dict[str, Dict[str, List[List[int]]]] = {}
    current, start = None, 0
    for index, tag in enumerate(list(tags) + ["O"]):
        prefix, _, entity_type = tag.partition("-")
        continues = prefix == "I" and entity_type == current
        if current is not None and not continues:
            spans.setdefault(current, {}).setdefault(text[start:index], []).append([start, index - 1])
            current = None
        if prefix in ("B", "I") and entity_type and not continues:
            current, start = entity_type, index
    return spans
