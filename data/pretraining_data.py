"""Pretraining instances exactly as the original create_pretraining_data builds them (pure Python).

Every random draw comes from one `random.Random` passed in, in the original's order (see
../shared/specs/create_pretraining_data.md); changing the order of any call below changes the
written bytes. The functions read documents, build next-sentence pairs and mask them; writing
is `data.tfrecord_output`'s job and splitting work over processes `data.pretraining_workers`'.

Tokens are either the vocabulary's strings (as in the original; convenient in tests) or their
integer ids (what the generator uses: a `Corpus` holds every document in one int32 array, four
bytes per token instead of a list slot plus list overheads). The same functions handle both; a
`TokenKinds` tells them which tokens are special and which continue a word.
"""

import dataclasses
import os
import random
from array import array

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


def _tokenized_lines(sources, tokenize_line, stats, on_bytes):
    """Per input line: None for a blank one (a document break), else (source, line number, tokens).

    Invalid UTF-8 is replaced (the tokenizer then drops U+FFFD) and counted per file in `stats`;
    `on_bytes(n)` reports progress about every megabyte.
    """
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
                yield None
                continue
            yield source, line_number, tokenize_line(line)
            if pending_bytes >= 1 << 20:
                if on_bytes is not None:
                    on_bytes(pending_bytes)
                stats.bytes_read += pending_bytes
                pending_bytes = 0
        stats.bytes_read += pending_bytes
        if on_bytes is not None:
            on_bytes(pending_bytes)


def read_documents(sources, tokenize_line, stats=None, on_bytes=None):
    """Documents (lists of sentences, each a token list) in the original's way.

    A blank line starts a new document, documents continue across sources, and documents
    without sentences are dropped. `tokenize_line(text) -> tokens`. See `read_corpus` for the
    compact form the generator uses.
    """
    stats = stats if stats is not None else ReadStats()
    documents = [[]]
    for line in _tokenized_lines(sources, tokenize_line, stats, on_bytes):
        if line is None:
            documents.append([])
        elif line[2]:
            documents[-1].append(line[2])
    return [d for d in documents if d], stats


class Corpus:
    """The documents of `read_documents`, held compactly as token ids.

    Every sentence's ids are in one int32 array, one after the other; sentence s is
    `token_ids[sentence_starts[s]:sentence_starts[s + 1]]` and document d is sentences
    `document_starts[d]` to `document_starts[d + 1]`. `corpus[k]` is the k-th document in the
    current order, a read-only sequence of sentences (each an `array` of ids): what the instance
    builder indexes, as it indexes a list of lists. `shuffle_documents` permutes that order with
    the draws `rng.shuffle` makes on a list of the same length, so the instances are the same.
    """

    def __init__(self):
        self.token_ids = array("i")
        self.sentence_starts = array("q", [0])
        self.document_starts = array("q", [0])
        self.order = None  # document indexes in the current order; None: reading order

    def add_sentence(self, ids):
        self.token_ids.extend(ids)
        self.sentence_starts.append(len(self.token_ids))

    def end_document(self):
        """Closes the current document; a document without sentences is dropped, as in the original."""
        if len(self.sentence_starts) - 1 > self.document_starts[-1]:
            self.document_starts.append(len(self.sentence_starts) - 1)

    def __len__(self):
        return len(self.document_starts) - 1

    def __getitem__(self, index):
        if self.order is not None:
            index = self.order[index]
        elif not -len(self) <= index < len(self):
            raise IndexError("document index out of range")
        elif index < 0:
            index += len(self)
        first = self.document_starts[index]
        return _Document(self, first, self.document_starts[index + 1] - first)

    def shuffle_documents(self, rng):
        if self.order is None:
            self.order = array("q", range(len(self)))
        shuffle(self.order, rng)


class _Document:
    """Sentences `first` .. `first + count - 1` of a Corpus; each read as a fresh array of ids."""

    __slots__ = ("_token_ids", "_starts", "_first", "_count")

    def __init__(self, corpus, first, count):
        self._token_ids = corpus.token_ids
        self._starts = corpus.sentence_starts
        self._first = first
        self._count = count

    def __len__(self):
        return self._count

    def __getitem__(self, index):
        if not 0 <= index < self._count:
            if not -self._count <= index < 0:
                raise IndexError("sentence index out of range")
            index += self._count
        sentence = self._first + index
        return self._token_ids[self._starts[sentence]:self._starts[sentence + 1]]


def read_corpus(sources, tokenize_line, token_id, stats=None, on_bytes=None):
    """The documents of `read_documents(sources, tokenize_line)` as a `Corpus` of ids.

    `token_id(token) -> int` maps each token; a token it does not know (KeyError) is an error
    naming the file and line.
    """
    stats = stats if stats is not None else ReadStats()
    corpus = Corpus()
    for line in _tokenized_lines(sources, tokenize_line, stats, on_bytes):
        if line is None:
            corpus.end_document()
            continue
        source, line_number, tokens = line
        if not tokens:
            continue
        try:
            corpus.add_sentence(map(token_id, tokens))
        except KeyError as err:
            where = f"line {line_number}" if line_number else f"the byte range from {source.start}"
            raise PretrainingDataError(f"{source.path}, {where}: token {err.args[0]!r} is not in the vocabulary "
                                       f"(is [UNK] missing from it?)") from None
    corpus.end_document()
    return corpus, stats


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


# Or'ed into the id of a token that continues a jieba word (--chinese_wwm), the id form of
# `data.chinese_words.ContinuationToken`; removed when the id is written.
CONTINUATION_FLAG = 1 << 30


class _DoubleHashPieces:
    """Membership test for WordPiece continuation pieces among string tokens."""

    def __contains__(self, token):
        return token.startswith("##")


class _StringContinuations:
    """Membership test for tokens that continue a word under --chinese_wwm, among string tokens."""

    def __contains__(self, token):
        return type(token) is not str or token.startswith("##")


class TokenKinds:
    """What building and masking instances needs to know about the tokens it is given.

    `cls`, `sep`, `mask`: the special tokens; `replacements[k]`: the token the original's
    `vocab_words[k]` (the vocabulary in file order) is in this form; `subword_pieces`: a container
    of the `##` pieces (Google's whole-word rule); `word_continuations`: of the tokens that join the
    word before them under --chinese_wwm. `for_strings` gives the original's string tokens,
    `for_ids` their vocabulary ids (a continuation's id carries CONTINUATION_FLAG).
    """

    def __init__(self, cls, sep, mask, replacements, subword_pieces, word_continuations):
        self.cls = cls
        self.sep = sep
        self.mask = mask
        self.replacements = replacements
        self.subword_pieces = subword_pieces
        self.word_continuations = word_continuations

    @classmethod
    def for_strings(cls_, vocab_words):
        return cls_(CLS, SEP, MASK, vocab_words, _DoubleHashPieces(), _StringContinuations())

    @classmethod
    def for_ids(cls_, vocab):
        """`vocab`: token -> id in file order (a repeated token has its last id, as when written)."""
        for token in (CLS, SEP, MASK):
            if token not in vocab:
                raise PretrainingDataError(f"the vocabulary lacks the special token {token}")
        subwords = frozenset(i for token, i in vocab.items() if token.startswith("##"))
        continuations = _FlaggedOr(subwords)
        return cls_(vocab[CLS], vocab[SEP], vocab[MASK], [vocab[t] for t in vocab], subwords, continuations)


class _FlaggedOr:
    """Ids that carry CONTINUATION_FLAG, or are in `ids`."""

    def __init__(self, ids):
        self._ids = ids

    def __contains__(self, token):
        return token >= CONTINUATION_FLAG or token in self._ids


def _token_kinds(vocab_words):
    return vocab_words if isinstance(vocab_words, TokenKinds) else TokenKinds.for_strings(vocab_words)


def _candidate_groups(tokens, config, kinds=None):
    """Positions that may be masked, grouped into words that are masked whole."""
    kinds = kinds or TokenKinds.for_strings(())
    cls, sep = kinds.cls, kinds.sep
    groups = []
    if config.chinese_wwm:
        # A continuation joins its word only when the word's previous token is right before it
        # (never across [SEP], unlike the original's `##` rule kept below for reproducibility).
        continuations = kinds.word_continuations
        previous = -2
        for i, token in enumerate(tokens):
            if token == cls or token == sep:
                continue
            if groups and previous == i - 1 and token in continuations:
                groups[-1].append(i)
            else:
                groups.append([i])
            previous = i
    elif config.do_whole_word_mask:
        pieces = kinds.subword_pieces
        for i, token in enumerate(tokens):
            if token == cls or token == sep:
                continue
            if groups and token in pieces:
                groups[-1].append(i)
            else:
                groups.append([i])
    else:
        groups = [[i] for i, token in enumerate(tokens) if token != cls and token != sep]
    return groups


def create_masked_lm_predictions(tokens, config, vocab_words, rng):
    """(output tokens, masked positions sorted, original tokens at those positions).

    `vocab_words`: the vocabulary's words in file order (string tokens) or a TokenKinds.
    """
    kinds = _token_kinds(vocab_words)
    cls, sep = kinds.cls, kinds.sep
    num_to_predict = min(config.max_predictions_per_seq,
                         max(1, int(round(len(tokens) * config.masked_lm_prob))))
    if config.do_whole_word_mask or config.chinese_wwm:
        groups = _candidate_groups(tokens, config, kinds)
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
        positions = [i for i, token in enumerate(tokens) if token != cls and token != sep]
        shuffle(positions, rng)
        chosen = positions[:num_to_predict]
    output_tokens = list(tokens)
    masked = []
    random_draw = rng.random
    replacements = kinds.replacements
    mask = kinds.mask
    last_vocab_index = len(replacements) - 1
    for index in chosen:
        if random_draw() < 0.8:
            replacement = mask
        elif random_draw() < 0.5:
            replacement = tokens[index]
        else:
            replacement = replacements[rng.randint(0, last_vocab_index)]
        output_tokens[index] = replacement
        masked.append((index, tokens[index]))
    masked.sort(key=lambda pair: pair[0])
    return output_tokens, [p for p, _ in masked], [label for _, label in masked]


def create_instances_from_document(documents, document_index, config, vocab_words, rng):
    """The instances of one document: a list of TrainingInstance.

    `documents`: a list of documents (lists of sentences, each a token list) or a Corpus;
    `vocab_words`: as for `create_masked_lm_predictions`.
    """
    kinds = _token_kinds(vocab_words)
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
            tokens = [kinds.cls, *tokens_a, kinds.sep, *tokens_b, kinds.sep]
            if config.dynamic_masking:  # the input pipeline draws the masks (data/dynamic_masking.py)
                output_tokens, positions, labels = tokens, [], []
            else:
                output_tokens, positions, labels = create_masked_lm_predictions(tokens, config, kinds, rng)
            instances.append(TrainingInstance(output_tokens, len(tokens_a) + 2, positions, labels, is_random_next))
            chunk = []
            chunk_length = 0
        i += 1
    return instances


def shuffle_documents(documents, rng):
    """The original's shuffle of the document list, for a list or a Corpus."""
    if isinstance(documents, Corpus):
        documents.shuffle_documents(rng)
    else:
        shuffle(documents, rng)


def iter_training_instances(documents, config, vocab_words, rng, on_document=None):
    """The instances of `dupe_factor` rounds over the documents, in creation order (documents
    shuffled first), document by document; the caller shuffles them with the same rng afterwards
    (`shuffled_order`), so none need be held in memory meanwhile."""
    kinds = _token_kinds(vocab_words)
    shuffle_documents(documents, rng)
    for _ in range(config.dupe_factor):
        for document_index in range(len(documents)):
            made = create_instances_from_document(documents, document_index, config, kinds, rng)
            if on_document is not None:
                on_document(len(made))
            yield from made


def shuffled_order(count, rng):
    """The positions of `count` instances in the order `rng.shuffle` puts a list of them in
    (the permutation depends only on the length and the rng), eight bytes per instance."""
    order = array("q", range(count))
    shuffle(order, rng)
    return order


def create_training_instances(documents, config, vocab_words, rng, on_document=None):
    """All instances of `dupe_factor` rounds over the documents, shuffled (documents shuffled first)."""
    instances = list(iter_training_instances(documents, config, vocab_words, rng, on_document))
    shuffle(instances, rng)
    return instances
