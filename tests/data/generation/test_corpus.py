"""data/generation/corpus.py: the compact Corpus of ids holds the original's documents."""

import random

import pytest

from data.generation.config import PretrainingDataError
from data.generation.corpus import Source, read_corpus
from tests.data.generation.generation_reference import read_documents, vocab_of


def test_corpus_holds_the_documents_of_read_documents(tmp_path):
    text = "a b\nc\n\n\n d e f \n\nb\n\xff\n\na\n"
    path = tmp_path / "in.txt"
    path.write_bytes(text.encode("utf-8", errors="surrogateescape").replace(b"\xc3\xbf", b"\xff"))
    vocab = vocab_of("abcdef")

    def tokenize(line):  # drops U+FFFD, as the real tokenizers do
        return line.replace("\ufffd", " ").split()

    documents, _ = read_documents([Source(str(path))], tokenize)
    corpus, stats = read_corpus([Source(str(path))], tokenize, vocab.__getitem__)
    assert stats.bad_utf8_lines == 1  # the \xff line: replaced, no token, not a document break
    assert len(corpus) == len(documents) == 4
    as_lists = [[[vocab[t] for t in s] for s in d] for d in documents]
    assert [[list(s) for s in corpus[k]] for k in range(len(corpus))] == as_lists
    assert corpus.token_ids.itemsize == 4
    # Shuffling the corpus's order permutes documents as rng.shuffle permutes the list.
    corpus.shuffle_documents(random.Random(3))
    random.Random(3).shuffle(as_lists)
    assert [[list(s) for s in corpus[k]] for k in range(len(corpus))] == as_lists


def test_unknown_token_names_file_and_line(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("a\n\nb zz\n", encoding="utf-8")
    with pytest.raises(PretrainingDataError, match=r"in\.txt, line 3: token 'zz' is not in the vocabulary"):
        read_corpus([Source(str(path))], str.split, vocab_of("ab").__getitem__)
