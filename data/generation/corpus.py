"""Reading the input text into documents: byte ranges of files, line by line, into a compact `Corpus` of token ids.

A blank line starts a new document, documents continue across sources, and documents without
sentences are dropped, as in the original.
"""

import dataclasses
import os
from array import array

from data.generation.config import PretrainingDataError
from data.generation.shuffling import shuffle


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


def tokenized_lines(sources, tokenize_line, stats, on_bytes):
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


class Corpus:
    """The original's documents (lists of sentences, each a list of tokens), held compactly as token ids.

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
    """The documents of `sources` (see the module docstring) as a `Corpus` of ids.

    `token_id(token) -> int` maps each token; a token it does not know (KeyError) is an error
    naming the file and line.
    """
    stats = stats if stats is not None else ReadStats()
    corpus = Corpus()
    for line in tokenized_lines(sources, tokenize_line, stats, on_bytes):
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
