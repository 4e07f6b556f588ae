"""Span-extraction reading comprehension (CMRC2018 / SQuAD v1.1 JSON), as the original run_squad
but Chinese-aware: every CJK character and punctuation mark is its own word, other characters are
grouped into whitespace-separated words, and every word piece keeps its character range in the
original context, so a predicted span maps back to an exact substring of the context.

Pipeline: read_examples -> convert_examples (sliding windows, doc_stride, max_query_length,
token_is_max_context) -> model logits -> decode_predictions (n-best over all windows).
"""

import collections
import dataclasses
import json
import logging
import math
import os
from typing import Dict, List, Optional, Tuple

from data.tasks.errors import DataError, log_skipped, read_text, require_file
from data.tasks.packing import pack_pair, padded_inputs
from data.tokenization import is_cjk_char, is_punctuation

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Word:
    text: str
    start: int  # character offsets in the context, end exclusive
    end: int


@dataclasses.dataclass
class ReadingExample:
    qas_id: str
    question: str
    context: str
    words: List[Word]
    answers: List[str]  # every reference answer text (evaluation)
    answer_start: Optional[int] = None  # character offset of the training answer
    answer_text: Optional[str] = None


@dataclasses.dataclass
class ReadingFeatures:
    unique_id: int
    example_index: int
    window_index: int
    tokens: List[str]
    # token position in the window -> (char start, char end) of that piece in the context
    token_char_span: Dict[int, Tuple[int, int]]
    token_is_max_context: Dict[int, bool]
    input_ids: List[int]
    input_mask: List[int]
    segment_ids: List[int]
    start_position: int = 0
    end_position: int = 0


def _is_space(char):
    return char.isspace() or ord(char) in (0x202F, 0x200B, 0xFEFF)


def split_words(context):
    """Words with their character ranges: CJK characters and punctuation alone, other
    characters in runs delimited by whitespace."""
    words, run_start = [], None
    for i, char in enumerate(context):
        alone = is_cjk_char(char) or is_punctuation(char)
        if _is_space(char) or alone:
            if run_start is not None:
                words.append(Word(context[run_start:i], run_start, i))
                run_start = None
            if alone:
                words.append(Word(char, i, i + 1))
        elif run_start is None:
            run_start = i
    if run_start is not None:
        words.append(Word(context[run_start:], run_start, len(context)))
    return words


def _piece_length(piece):
    return len(piece[2:]) if piece.startswith("##") else len(piece)


def tokenize_words(words, tokenizer):
    """Word pieces of every word and each piece's character range in the context. When the
    pieces' lengths add up to the word's (the usual case) each piece gets its exact range;
    otherwise ([UNK], normalisation that changes lengths) every piece spans the whole word."""
    pieces, spans, piece_word = [], [], []
    for word_index, word in enumerate(words):
        word_pieces = tokenizer.tokenize(word.text)
        exact = (word_pieces and "[UNK]" not in word_pieces
                 and sum(_piece_length(p) for p in word_pieces) == word.end - word.start)
        offset = word.start
        for piece in word_pieces:
            if exact:
                spans.append((offset, offset + _piece_length(piece)))
                offset += _piece_length(piece)
            else:
                spans.append((word.start, word.end))
            pieces.append(piece)
            piece_word.append(word_index)
    return pieces, spans, piece_word


_JSON_TYPES = {dict: "an object", list: "a list", str: "a string", int: "an integer"}


def _json_type(value):
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return next((name for kind, name in _JSON_TYPES.items() if isinstance(value, kind)), "a number")


def _field(obj, key, kind, path, where, default=dataclasses.MISSING):
    """obj[key], checked to be of `kind`; a DataError naming the JSON path otherwise."""
    if key not in obj:
        if default is not dataclasses.MISSING:
            return default
        raise DataError(path, f"{where}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DataError(path, f"{where}.{key}: expected {_JSON_TYPES[kind]}, found {_json_type(value)}")
    return value


def _objects(values, path, where):
    """(index, object) of a JSON list whose items must be objects."""
    for index, value in enumerate(values):
        if not isinstance(value, dict):
            raise DataError(path, f"{where}[{index}]: expected an object, found {_json_type(value)}")
        yield index, value


def load_json(path):
    """A task file's JSON: invalid UTF-8 or JSON is a DataError naming the line."""
    require_file(path)
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(path, f"not valid JSON: {err.msg} (column {err.colno})", err.lineno) from None
    except RecursionError:
        raise DataError(path, "not valid JSON: nested too deeply") from None


def read_examples(path, training):
    """Questions of a SQuAD v1.1 JSON file. In training, the first answer is the target and
    must be found at its answer_start; a question whose answer is not there is reported with
    its id and skipped (the original skips it too) and the count is logged. A field missing or
    of the wrong type, or a question id used twice, is a DataError naming its JSON path (e.g.
data[0].paragraphs[2].qas[1])."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise DataError(path, f"top level: expected an object with a 'data' list, found {_json_type(data)}")
    examples, skipped, seen = [], 0, {}
    for a, article in _objects(_field(data, "data", list, path, "top level"), path, "data"):
        for p, paragraph in _objects(_field(article, "paragraphs", list, path, f"data[{a}]"), path,
                                     f"data[{a}].paragraphs"):
            where = f"data[{a}].paragraphs[{p}]"
            context = _field(paragraph, "context", str, path, where)
            words = split_words(context)
            for q, qa in _objects(_field(paragraph, "qas", list, path, where), path, f"{where}.qas"):
                at = f"{where}.qas[{q}]"
                qid = _field(qa, "id", str, path, at)
                if qid in seen:  # predictions are keyed by id: a second one would overwrite the first
                    raise DataError(path, f"{at}.id: question id {qid!r} is also the id of {seen[qid]}")
                seen[qid] = at
                answers = list(_objects(_field(qa, "answers", list, path, at, [] if not training else
                                               dataclasses.MISSING), path, f"{at}.answers"))
                texts = [_field(answer, "text", str, path, f"{at}.answers[{i}]", "") for i, answer in answers]
                example = ReadingExample(qid, _field(qa, "question", str, path, at), context, words, texts)
                if training:
                    if not answers:
                        raise DataError(path, f"{at} (question {qid}): a training question needs an answer")
                    text = texts[0]
                    start = _field(answers[0][1], "answer_start", int, path, f"{at}.answers[0]", -1)
                    if not text or context[start:start + len(text)] != text or start < 0:
                        logger.warning("%s: question %s: answer %r is not at answer_start %s; skipped",
                                       path, qid, text, start)
                        skipped += 1
                        continue
                    example.answer_start, example.answer_text = start, text
                examples.append(example)
    log_skipped(path, skipped, "training questions")
    return examples


def _is_max_context(windows, window_index, position):
    """The original's rule: a token belongs to the window where it has the most context on its
    shorter side, ties broken towards the longer window."""
    best_score, best_index = None, None
    for index, (start, length) in enumerate(windows):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best_index = score, index
    return window_index == best_index


def _windows(num_pieces, max_pieces, doc_stride):
    windows, start = [], 0
    while start < num_pieces:
        length = min(num_pieces - start, max_pieces)
        windows.append((start, length))
        if start + length == num_pieces:
            break
        start += min(length, doc_stride)
    return windows


def _answer_pieces(example, spans):
    """First and last piece overlapping the answer's characters."""
    answer_end = example.answer_start + len(example.answer_text)
    overlapping = [i for i, (s, e) in enumerate(spans) if s < answer_end and e > example.answer_start]
    return (overlapping[0], overlapping[-1]) if overlapping else (None, None)


def convert_examples(examples, tokenizer, max_seq_length, doc_stride, max_query_length, training):
    features = []
    for example_index, example in enumerate(examples):
        query = tokenizer.tokenize(example.question)[:max_query_length]
        max_pieces = max_seq_length - len(query) - 3
        if max_pieces <= 0:
            raise ValueError(
                f"--max_seq_length {max_seq_length} is too small for question {example.qas_id}: its "
                f"{len(query)} query tokens (after --max_query_length {max_query_length}) plus [CLS] "
                f"and two [SEP] leave no room for the context")
        pieces, spans, _ = tokenize_words(example.words, tokenizer)
        answer = _answer_pieces(example, spans) if training else (None, None)
        windows = _windows(len(pieces), max_pieces, doc_stride)
        for window_index, (start, length) in enumerate(windows):
            tokens, segment_ids = pack_pair(query, pieces[start:start + length])
            first = len(query) + 2  # the window's first piece, after [CLS] query [SEP]
            char_span = {first + j: spans[i] for j, i in enumerate(range(start, start + length))}
            is_max = {first + j: _is_max_context(windows, window_index, i)
                      for j, i in enumerate(range(start, start + length))}
            input_ids, input_mask, segment_ids = padded_inputs(tokenizer.convert_tokens_to_ids(tokens), segment_ids,
                                                               max_seq_length)
            start_position = end_position = 0  # [CLS]: the answer is not in this window
            if training and answer[0] is not None and start <= answer[0] and answer[1] < start + length:
                offset = len(query) + 2 - start
                start_position, end_position = answer[0] + offset, answer[1] + offset
            features.append(ReadingFeatures(
                unique_id=1000000000 + len(features), example_index=example_index,
                window_index=window_index, tokens=tokens, token_char_span=char_span,
                token_is_max_context=is_max, input_ids=input_ids, input_mask=input_mask, segment_ids=segment_ids,
                start_position=start_position, end_position=end_position))
    return features


def _top_indexes(logits, n):
    return sorted(range(len(logits)), key=lambda i: logits[i], reverse=True)[:n]


def _softmax(scores):
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def decode_predictions(examples, features, results, n_best_size=20, max_answer_length=30):
    """The original's n-best decoding over every window of each question.

    results: unique_id -> (start_logits, end_logits) (sequences over the window).
    Returns (predictions: id -> text, nbest: id -> list of dicts), texts exact context substrings.
    """
    by_example = collections.defaultdict(list)
    for feature in features:
        by_example[feature.example_index].append(feature)
    predictions, nbest_json = collections.OrderedDict(), collections.OrderedDict()
    for example_index, example in enumerate(examples):
        candidates = []
        for feature in by_example[example_index]:
            start_logits, end_logits = results[feature.unique_id]
            for s in _top_indexes(start_logits, n_best_size):
                for e in _top_indexes(end_logits, n_best_size):
                    if s not in feature.token_char_span or e not in feature.token_char_span:
                        continue
                    if not feature.token_is_max_context.get(s, False) or e < s or e - s + 1 > max_answer_length:
                        continue
                    candidates.append((float(start_logits[s]) + float(end_logits[e]),
                                       float(start_logits[s]), float(end_logits[e]),
                                       feature.token_char_span[s][0], feature.token_char_span[e][1]))
        candidates.sort(key=lambda c: c[0], reverse=True)
        nbest, seen = [], set()
        for _, start_logit, end_logit, char_start, char_end in candidates:
            text = example.context[char_start:char_end]
            if text in seen:
                continue
            seen.add(text)
            nbest.append({"text": text, "start_logit": start_logit, "end_logit": end_logit})
            if len(nbest) >= n_best_size:
                break
        if not nbest:  # the original's placeholder when no span is valid
            nbest.append({"text": "empty", "start_logit": 0.0, "end_logit": 0.0})
        probabilities = _softmax([n["start_logit"] + n["end_logit"] for n in nbest])
        for entry, probability in zip(nbest, probabilities):
            entry["probability"] = probability
        predictions[example.qas_id] = nbest[0]["text"]
        nbest_json[example.qas_id] = [
            {"text": n["text"], "probability": n["probability"],
             "start_logit": n["start_logit"], "end_logit": n["end_logit"]} for n in nbest]
    return predictions, nbest_json


# --task_name -> the (train, dev) file names --train_file and --predict_file default to in --data_dir
DEFAULT_FILES = {"cmrc2018": ("cmrc2018_train.json", "cmrc2018_dev.json"), "squad": ("train-v1.1.json", "dev-v1.1.json")}


class ReadingData:
    """The files of one reading task: train and dev (--train_file, --predict_file), by default named by
    the task in --data_dir."""

    def __init__(self, task_name, data_dir, train_file=None, predict_file=None):
        if task_name not in DEFAULT_FILES:
            raise ValueError(f"unknown --task_name {task_name!r} for reading comprehension; known: "
                             f"{', '.join(sorted(DEFAULT_FILES))}")
        train_name, dev_name = DEFAULT_FILES[task_name]
        self.task_name = task_name
        self.files = {"train": train_file or os.path.join(data_dir, train_name),
                      "dev": predict_file or os.path.join(data_dir, dev_name)}

    def path(self, split):
        return self.files[split]

    def examples(self, split):
        return read_examples(self.path(split), training=split == "train")
