"""Tokenizers: the original's FullTokenizer (BasicTokenizer + WordPiece) and a SentencePiece one.

Both expose the same interface: `tokenize(text) -> list[str]`, `convert_tokens_to_ids`,
`convert_ids_to_tokens`, `.vocab` (token -> id, in vocabulary order) and `.inv_vocab`.

FullTokenizer reproduces the original's output exactly; it is fast because the only
context-free steps are cached: the per-character cleaning (steps 1 and 2 of the original's
BasicTokenizer) is one `str.translate` with a lazily filled table, and everything after the
whitespace split (lower-casing, accent stripping, punctuation split, WordPiece) depends only on
the whitespace-separated piece, so its result is cached per piece.
"""

import collections
import os
import unicodedata

UNK_TOKEN = "[UNK]"
MAX_INPUT_CHARS_PER_WORD = 200
# Bounds memory on corpora with endless distinct words: 1.9M entries of Latin words took 845 MB;
# Chinese text stays far below. Cleared when full, so frequent words are cached again at once.
_PIECE_CACHE_LIMIT = 200_000

# CJK Unified Ideographs (and extensions A-E), Compatibility Ideographs and their Supplement.
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


class VocabularyError(ValueError):
    """A vocabulary or SentencePiece model file is missing or unusable."""


def is_whitespace(char):
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def is_control(char):
    if char in "\t\n\r":  # counted as whitespace, not control
        return False
    return unicodedata.category(char).startswith("C")


def is_punctuation(char):
    cp = ord(char)
    # ASCII symbols such as "$" and "^" are not Unicode punctuation but are split off anyway.
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def is_cjk_char(char):
    cp = ord(char)
    return any(low <= cp <= high for low, high in _CJK_RANGES)


def load_vocab(vocab_file):
    """Token -> id in file order; ids are line indexes (a repeated token keeps its last id)."""
    if not vocab_file or not os.path.isfile(vocab_file):
        raise VocabularyError(f"vocabulary file not found: {vocab_file}")
    vocab = collections.OrderedDict()
    with open(vocab_file, "rb") as reader:
        for index, raw in enumerate(reader):
            try:
                token = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise VocabularyError(f"{vocab_file}:{index + 1}: not valid UTF-8 ({err.reason})") from None
            vocab[token.strip()] = index
    if not vocab:
        raise VocabularyError(f"vocabulary file is empty: {vocab_file}")
    return vocab


class _CleaningTable(dict):
    """`str.translate` table for the original's clean-text and CJK-spacing steps, filled on demand."""

    def __missing__(self, cp):
        char = chr(cp)
        if cp == 0 or cp == 0xFFFD or is_control(char):
            value = None
        elif is_whitespace(char):
            value = " "
        elif is_cjk_char(char):
            value = f" {char} "
        else:
            value = char
        self[cp] = value
        return value


def split_on_punctuation(text):
    # Slices, not the original's growing `pieces[-1] += char`: that copies the word at every
    # character, so a 1 MB line without spaces took 40 s and a 10 MB one over an hour.
    pieces, start = [], 0
    for index, char in enumerate(text):
        if is_punctuation(char):
            if start < index:
                pieces.append(text[start:index])
            pieces.append(char)
            start = index + 1
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def strip_accents(text):
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


class BasicTokenizer:
    """Cleaning, CJK splitting, optional lower-casing with accent stripping, punctuation split."""

    def __init__(self, do_lower_case=True):
        self.do_lower_case = do_lower_case
        self._table = _CleaningTable()

    def clean_and_split(self, text):
        """Steps 1-2 (per character) then the whitespace split: the pieces of step 3."""
        return text.translate(self._table).split()

    def tokenize_piece(self, piece):
        if self.do_lower_case:
            piece = strip_accents(piece.lower())
        return [t for p in split_on_punctuation(piece) for t in p.split()]

    def tokenize(self, text):
        return [t for piece in self.clean_and_split(text) for t in self.tokenize_piece(piece)]


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece with `##` continuation pieces."""

    def __init__(self, vocab, unk_token=UNK_TOKEN, max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize_word(self, word):
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            match = None
            while start < end:
                candidate = word[start:end] if start == 0 else "##" + word[start:end]
                if candidate in self.vocab:
                    match = candidate
                    break
                end -= 1
            if match is None:
                return [self.unk_token]
            pieces.append(match)
            start = end
        return pieces

    def tokenize(self, text):
        return [p for word in text.split() for p in self.tokenize_word(word)]


class _VocabularyMixin:
    def convert_tokens_to_ids(self, tokens):
        vocab = self.vocab
        try:
            return [vocab[t] for t in tokens]
        except KeyError as err:
            raise VocabularyError(f"token {err.args[0]!r} is not in the vocabulary") from None

    def convert_ids_to_tokens(self, ids):
        inv = self.inv_vocab
        try:
            return [inv[i] for i in ids]
        except KeyError as err:
            raise VocabularyError(f"id {err.args[0]!r} is not in the vocabulary") from None


class FullTokenizer(_VocabularyMixin):
    """The original's end-to-end tokenizer: BasicTokenizer then WordPiece on each token."""

    def __init__(self, vocab_file, do_lower_case=True):
        self.vocab = load_vocab(vocab_file)
        self.inv_vocab = {i: t for t, i in self.vocab.items()}
        self.do_lower_case = do_lower_case
        self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)
        self._piece_cache = {}

    def _tokenize_piece(self, piece):
        tokens = self._piece_cache.get(piece)
        if tokens is None:
            tokens = tuple(
                sub
                for token in self.basic_tokenizer.tokenize_piece(piece)
                for sub in self.wordpiece_tokenizer.tokenize_word(token)
            )
            if len(self._piece_cache) >= _PIECE_CACHE_LIMIT:
                self._piece_cache.clear()
            self._piece_cache[piece] = tokens
        return tokens

    def tokenize(self, text):
        out = []
        for piece in self.basic_tokenizer.clean_and_split(text):
            out.extend(self._tokenize_piece(piece))
        return out

    def tokenize_by_piece(self, text):
        """(piece, its tokens) per whitespace-separated piece after cleaning; every CJK ideograph of
        `text` is one piece, in order, which lets callers align tokens with characters."""
        return [(piece, self._tokenize_piece(piece)) for piece in self.basic_tokenizer.clean_and_split(text)]


class SentencePieceTokenizer(_VocabularyMixin):
    """Pieces from a SentencePiece model; the vocabulary is the model's pieces in id order."""

    def __init__(self, spm_model_file, do_lower_case=False):
        if not spm_model_file or not os.path.isfile(spm_model_file):
            raise VocabularyError(f"SentencePiece model file not found: {spm_model_file}")
        import sentencepiece  # only users of SentencePiece vocabularies pay for the import

        self.sp_model = sentencepiece.SentencePieceProcessor()
        try:
            self.sp_model.Load(str(spm_model_file))
        except (OSError, RuntimeError) as err:
            raise VocabularyError(f"{spm_model_file}: not a SentencePiece model ({err})") from None
        self.do_lower_case = do_lower_case
        self.vocab = collections.OrderedDict(
            (self.sp_model.IdToPiece(i), i) for i in range(self.sp_model.GetPieceSize())
        )
        self.inv_vocab = {i: t for t, i in self.vocab.items()}
        self.unk_token = self.sp_model.IdToPiece(self.sp_model.unk_id())

    def tokenize(self, text):
        if self.do_lower_case:
            text = text.lower()
        vocab = self.vocab
        # Characters the model never saw come out as pieces of their own: map them to its unknown
        # piece so that every token is in the vocabulary, as with WordPiece.
        return [p if p in vocab else self.unk_token for p in self.sp_model.EncodeAsPieces(text)]


def make_tokenizer(vocab_file=None, spm_model_file=None, do_lower_case=True):
    """A SentencePieceTokenizer when a model is given, else the original's FullTokenizer."""
    if spm_model_file:
        return SentencePieceTokenizer(spm_model_file, do_lower_case=do_lower_case)
    if not vocab_file:
        raise VocabularyError("either a vocabulary file or a SentencePiece model file is needed")
    return FullTokenizer(vocab_file, do_lower_case=do_lower_case)
