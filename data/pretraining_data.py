"""Pretraining instances exactly as the original create_pretraining_data builds them (pure Python).

Every random draw comes from one `random.Random` passed in, in the original's order (see
../shared/specs/create_pretraining_data.md); changing the order of any call below changes the
written bytes. The functions read documents, build next-sentence pairs and mask them; writing
is `data.tfrecord_output`'s job and splitting work over processes `data.pretraining_workers`'.
"""

import dataclasses
import os
import random

CLS = "[CLS]"
SEP = "[SEP]"
MASK = "[MASK]"
MIN_MAX_SEQ_LENGTH = 5  # [CLS] A [SEP] B [SEP] with one token in each of A and B


class PretrainingDataError(ValueError):
    """Bad input or flags for the generator; the message is meant for the user as is."""


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    dupe_factor: int = 10
    do_whole_word_mask: bool = False
    chinese_wwm: bool = False
    dynamic_masking: bool = False  # no masks: written for masking at training time (data/unmasked_instances.py)

    def validate(self):
        if self.max_seq_length < MIN_MAX_SEQ_LENGTH:
            raise PretrainingDataError(
                f"max_seq_length={self.max_seq_length} is too small: [CLS] A [SEP] B [SEP] needs at least "
                f"{MIN_MAX_SEQ_LENGTH}")
        if self.max_predictions_per_seq < 1:
            raise PretrainingDataError(f"max_predictions_per_seq={self.max_predictions_per_seq} must be >= 1")
        if not 0.0 < self.masked_lm_prob <= 1.0:
            raise PretrainingDataError(f"masked_lm_prob={self.masked_lm_prob} must be in (0, 1]")
        if not 0.0 <= self.short_seq_prob <= 1.0:
            raise PretrainingDataError(f"short_seq_prob={self.short_seq_prob} must be in [0, 1]")
        if self.dupe_factor < 1:
            raise PretrainingDataError(f"dupe_factor={self.dupe_factor} must be >= 1")
        return self


class TrainingInstance:
    """One masked sentence pair; segment ids are 0 for the first `num_segment_a` tokens, then 1."""

    __slots__ = ("tokens", "num_segment_a", "masked_lm_positions", "masked_lm_labels", "is_random_next")

    def __init__(self, tokens, num_segment_a, masked_lm_positions, masked_lm_labels, is_random_next):
        self.tokens = tokens
        self.num_segment_a = num_segment_a
        self.masked_lm_positions = masked_lm_positions
        self.masked_lm_labels = masked_lm_labels
        self.is_random_next = is_random_next

    @property
    def segment_ids(self):
        return [0] * self.num_segment_a + [1] * (len(self.tokens) - self.num_segment_a)


@dataclasses.dataclass
class ReadStats:
    lines: int = 0
    bad_utf8_lines: int = 0
    bytes_read: int = 0
    bad_utf8_files: dict = dataclasses.field(default_factory=dict)  # path -> (count, first line number)


@dataclasses.dataclass(frozen=True)
class Source:
    """A byte range [start, end) of one input file; both ends are at line starts."""

    path: str
    start: int = 0
    end: int = -1  # -1: to the end of the file

    def size(self):
        end = os.path.getsize(self.path) if self.end < 0 else self.end
        return end - self.start


def _lines_of(source):
    """(line number in file or None, raw bytes) of every line of the source's range."""
    with open(source.path, "rb") as reader:
        if source.start:
            reader.seek(source.start)
        position = source.start
        line_number = 1 if source.start == 0 else None  # unknown without reading the prefix
        for raw in reader:
            if 0 <= source.end <= position:
                break
            position += len(raw)
            yield line_number, raw
            if line_number is not None:
                line_number += 1


def read_documents(sources, tokenize_line, stats=None, on_bytes=None):
    """Documents (lists of sentences, each a token list) in the original's way.

    A blank line starts a new document, documents continue across sources, and documents
    without sentences are dropped. Invalid UTF-8 is replaced (the tokenizer then drops U+FFFD)
    and counted per file in `stats`. `tokenize_line(text) -> tokens`; `on_bytes(n)` reports
    progress.
    """
    stats = stats if stats is not None else ReadStats()
    documents = [[]]
    for source in sources:
        pending_bytes = 0
        for line_number, raw in _lines_of(source):
            stats.lines += 1
            pending_bytes += len(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw.decode("utf-8", errors="replace")
                stats.bad_utf8_lines += 1
                count, first = stats.bad_utf8_files.get(source.path, (0, line_number))
                stats.bad_utf8_files[source.path] = (count + 1, first)
            line = line.strip()
            if not line:
                documents.append([])
                continue
            tokens = tokenize_line(line)
            if tokens:
                documents[-1].append(tokens)
            if on_bytes is not None and pending_bytes >= 1 << 20:
                on_bytes(pending_bytes)
                stats.bytes_read += pending_bytes
                pending_bytes = 0
        stats.bytes_read += pending_bytes
        if on_bytes is not None:
            on_bytes(pending_bytes)
    return [d for d in documents if d], stats


def _truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def _shuffle_with_getrandbits(items, rng):
    """`rng.shuffle(items)` written out: same draws, same result, without two calls per element."""
    getrandbits = rng.getrandbits
    for i in range(len(items) - 1, 0, -1):
        bound = i + 1
        bits = bound.bit_length()
        j = getrandbits(bits)
        while j >= bound:
            j = getrandbits(bits)
        items[i], items[j] = items[j], items[i]


def _inline_shuffle_matches_library():
    for size in (0, 1, 2, 3, 7, 64, 127, 128, 129, 300):
        expected, ours = list(range(size)), list(range(size))
        library_rng, our_rng = random.Random(size), random.Random(size)
        library_rng.shuffle(expected)
        _shuffle_with_getrandbits(ours, our_rng)
        if expected != ours or library_rng.random() != our_rng.random():
            return False
    return True


# Masking shuffles ~100 positions per instance, the generator's hottest loop. The written-out
# shuffle is used only if it reproduces this Python's `random.shuffle` exactly.
_FAST_SHUFFLE = _inline_shuffle_matches_library()


def shuffle(items, rng):
    if _FAST_SHUFFLE and type(rng) is random.Random:
        _shuffle_with_getrandbits(items, rng)
    else:
        rng.shuffle(items)


def _candidate_groups(tokens, config):
    """Positions that may be masked, grouped into words that are masked whole."""
    groups = []
    if config.chinese_wwm:
        # A continuation joins its word only when the word's previous token is right before it
        # (never across [SEP], unlike the original's `##` rule kept below for reproducibility).
        previous = -2
        for i, token in enumerate(tokens):
            if token == CLS or token == SEP:
                continue
            if groups and previous == i - 1 and (type(token) is not str or token.startswith("##")):
                groups[-1].append(i)
            else:
                groups.append([i])
            previous = i
    elif config.do_whole_word_mask:
        for i, token in enumerate(tokens):
            if token == CLS or token == SEP:
                continue
            if groups and token.startswith("##"):
                groups[-1].append(i)
            else:
                groups.append([i])
    else:
        groups = [[i] for i, token in enumerate(tokens) if token != CLS and token != SEP]
    return groups


def create_masked_lm_predictions(tokens, config, vocab_words, rng):
    """(output tokens, masked positions sorted, original tokens at those positions)."""
    num_to_predict = min(config.max_predictions_per_seq,
                         max(1, int(round(len(tokens) * config.masked_lm_prob))))
    if config.do_whole_word_mask or config.chinese_wwm:
        groups = _candidate_groups(tokens, config)
        shuffle(groups, rng)
        chosen = []
        covered = set()
        for group in groups:
            if len(chosen) >= num_to_predict:
                break
            if len(chosen) + len(group) > num_to_predict or not covered.isdisjoint(group):
                continue
            covered.update(group)
            chosen.extend(group)
    else:
        # Single positions never overlap: shuffling the positions themselves draws the same
        # numbers as shuffling one-element groups, and the first num_to_predict are taken.
        positions = [i for i, token in enumerate(tokens) if token != CLS and token != SEP]
        shuffle(positions, rng)
        chosen = positions[:num_to_predict]
    output_tokens = list(tokens)
    masked = []
    random_draw = rng.random
    last_vocab_index = len(vocab_words) - 1
    for index in chosen:
        if random_draw() < 0.8:
            replacement = MASK
        elif random_draw() < 0.5:
            replacement = tokens[index]
        else:
            replacement = vocab_words[rng.randint(0, last_vocab_index)]
        output_tokens[index] = replacement
        masked.append((index, tokens[index]))
    masked.sort(key=lambda pair: pair[0])
    return output_tokens, [p for p, _ in masked], [label for _, label in masked]


def create_instances_from_document(documents, document_index, config, vocab_words, rng):
    document = documents[document_index]
    max_num_tokens = config.max_seq_length - 3
    target_seq_length = max_num_tokens
    if rng.random() < config.short_seq_prob:
        target_seq_length = rng.randint(2, max_num_tokens)

    instances = []
    chunk = []
    chunk_length = 0
    i = 0
    while i < len(document):
        sentence = document[i]
        chunk.append(sentence)
        chunk_length += len(sentence)
        if i == len(document) - 1 or chunk_length >= target_seq_length:
            a_end = 1
            if len(chunk) >= 2:
                a_end = rng.randint(1, len(chunk) - 1)
            tokens_a = [t for s in chunk[:a_end] for t in s]
            tokens_b = []
            if len(chunk) == 1 or rng.random() < 0.5:
                is_random_next = True
                target_b_length = target_seq_length - len(tokens_a)
                for _ in range(10):
                    other_index = rng.randint(0, len(documents) - 1)
                    if other_index != document_index:
                        break
                other = documents[other_index]
                for j in range(rng.randint(0, len(other) - 1), len(other)):
                    tokens_b.extend(other[j])
                    if len(tokens_b) >= target_b_length:
                        break
                # The sentences of the chunk not used for A are put back for the next chunk.
                i -= len(chunk) - a_end
            else:
                is_random_next = False
                tokens_b = [t for s in chunk[a_end:] for t in s]
            _truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
            tokens = [CLS, *tokens_a, SEP, *tokens_b, SEP]
            if config.dynamic_masking:  # the input pipeline draws the masks (data/dynamic_masking.py)
                output_tokens, positions, labels = tokens, [], []
            else:
                output_tokens, positions, labels = create_masked_lm_predictions(tokens, config, vocab_words, rng)
            instances.append(TrainingInstance(output_tokens, len(tokens_a) + 2, positions, labels, is_random_next))
            chunk = []
            chunk_length = 0
        i += 1
    return instances


def create_training_instances(documents, config, vocab_words, rng, on_document=None):
    """All instances of `dupe_factor` rounds over the documents, shuffled (documents shuffled first)."""
    shuffle(documents, rng)
    instances = []
    for _ in range(config.dupe_factor):
        for document_index in range(len(documents)):
            made = create_instances_from_document(documents, document_index, config, vocab_words, rng)
            instances.extend(made)
            if on_document is not None:
                on_document(len(made))
    shuffle(instances, rng)
    return instances
