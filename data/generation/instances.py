"""Masked sentence pairs (training instances) built exactly as the original's create_pretraining_data builds them.

Every random draw comes from one `random.Random` passed in, in the original's order (see
../shared/specs/create_pretraining_data.md); changing the order of any call below changes the
written bytes.

Tokens are either the vocabulary's strings (as in the original) or their integer ids (what the
generator uses, from a `Corpus`). The same functions handle both; a `TokenKinds` tells them which
tokens are special and which continue a word.
"""

from data.generation.config import PretrainingDataError
from data.generation.corpus import Corpus
from data.generation.shuffling import shuffle

CLS = "[CLS]"
SEP = "[SEP]"
MASK = "[MASK]"


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


def _truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


# Or'ed into the id of a token that continues a jieba word (--chinese_wwm), the id form of
# `data.generation.chinese_words.ContinuationToken`; removed when the id is written.
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


def candidate_groups(tokens, config, kinds=None):
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
        groups = candidate_groups(tokens, config, kinds)
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
            if config.dynamic_masking:  # the input pipeline draws the masks (data/input/dynamic_masking.py)
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
