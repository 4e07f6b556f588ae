"""data/generation/instances.py: instance building and masking (string tokens and the generator's ids)."""

import random

import pytest

from data.generation.chinese_words import ContinuationToken
from data.generation.config import GeneratorConfig
from data.generation.corpus import Corpus
from data.generation.instances import (CONTINUATION_FLAG, TokenKinds, candidate_groups, create_masked_lm_predictions,
                                       iter_training_instances)
from data.generation.shuffling import shuffled_order
from tests.data.generation.generation_reference import create_training_instances, vocab_of


def test_instances_are_well_formed_at_the_minimum_length():
    documents = [[["a", "b", "c"], ["d"], ["e", "f"]], [["g", "h"], ["i"]], [["j"]]]
    config = GeneratorConfig(max_seq_length=5, max_predictions_per_seq=3, dupe_factor=3, short_seq_prob=0.5)
    instances = create_training_instances(documents, config, list("abcdefghij") + ["[MASK]"], random.Random(1))
    assert instances
    for inst in instances:
        assert len(inst.tokens) <= 5
        assert inst.tokens[0] == "[CLS]" and inst.tokens[-1] == "[SEP]" and inst.tokens[inst.num_segment_a - 1] == "[SEP]"
        assert 1 <= len(inst.masked_lm_positions) <= 3
        assert inst.masked_lm_positions == sorted(inst.masked_lm_positions)
        assert all(inst.tokens[p] != "[CLS]" for p in inst.masked_lm_positions)


def test_whole_word_mask_groups_double_hash_pieces():
    tokens = ["[CLS]", "un", "##want", "##ed", "run", "[SEP]", "##ing", "x", "[SEP]"]
    config = GeneratorConfig(do_whole_word_mask=True, masked_lm_prob=1.0, max_predictions_per_seq=20)
    # The original's rule, kept exactly: a '##' piece joins the previous group even across [SEP].
    assert candidate_groups(tokens, config) == [[1, 2, 3], [4, 6], [7]]
    for seed in range(20):
        _, positions, _ = create_masked_lm_predictions(tokens, config, ["z"], random.Random(seed))
        assert {1, 2, 3} <= set(positions) or not {1, 2, 3} & set(positions)


LINES = ["我们在北京天安门广场看升旗仪式", "中华人民共和国成立于一九四九年", "自然语言处理是人工智能的重要方向",
         "研究人员提出了新的预训练模型"]


def test_chinese_wwm_masks_whole_jieba_words(segmenter):
    tokenizer = segmenter.tokenizer
    config = GeneratorConfig(chinese_wwm=True, masked_lm_prob=0.3, max_predictions_per_seq=20)
    vocab_words = list(tokenizer.vocab)
    multi_char_words_masked = 0
    for first, second in zip(LINES, LINES[1:] + LINES[:1]):
        tokens_a, tokens_b = segmenter.tokenize(first), segmenter.tokenize(second)
        # The written ids stay the plain characters'.
        assert tokenizer.convert_tokens_to_ids(tokens_a) == tokenizer.convert_tokens_to_ids(tokenizer.tokenize(first))
        tokens = ["[CLS]", *tokens_a, "[SEP]", *tokens_b, "[SEP]"]
        # Every character of these lines is one token, so jieba's words give token positions.
        words = []
        for offset, line in ((1, first), (len(tokens_a) + 2, second)):
            start = offset
            for word in segmenter.words(line):
                words.append(set(range(start, start + len(word))))
                start += len(word)
        for seed in range(30):
            _, positions, labels = create_masked_lm_predictions(tokens, config, vocab_words, random.Random(seed))
            masked = set(positions)
            assert labels == [tokens[p] for p in positions]
            for word in words:
                assert word <= masked or not word & masked, (word, masked)
                multi_char_words_masked += len(word) > 1 and word <= masked
    assert multi_char_words_masked > 20


@pytest.mark.parametrize("mode", ["plain", "google_wwm", "chinese_wwm"])
def test_id_tokens_make_the_instances_of_string_tokens(mode):
    """The generator's ids draw the same numbers and make the same instances as the original's strings."""
    rng = random.Random(0)
    words = ["x", "y", "z", "##s", "##t", "w"]
    vocab = vocab_of(words + ["x"])  # a repeated word: its last id is the one written
    documents = [[[rng.choice(words) for _ in range(rng.randint(1, 12))] for _ in range(rng.randint(1, 6))]
                 for _ in range(30)]
    if mode == "chinese_wwm":
        documents = [[[ContinuationToken(t) if rng.random() < 0.3 else t for t in s] for s in d] for d in documents]
    config = GeneratorConfig(max_seq_length=24, max_predictions_per_seq=6, short_seq_prob=0.3, dupe_factor=2,
                             do_whole_word_mask=mode == "google_wwm", chinese_wwm=mode == "chinese_wwm")

    def token_id(token):
        return vocab[token] | (CONTINUATION_FLAG if type(token) is ContinuationToken else 0)

    corpus = Corpus()
    for document in documents:
        for sentence in document:
            corpus.add_sentence(map(token_id, sentence))
        corpus.end_document()
    strings = create_training_instances([list(d) for d in documents], config, list(vocab), random.Random(9))
    rng_ids = random.Random(9)
    instances = list(iter_training_instances(corpus, config, TokenKinds.for_ids(vocab), rng_ids))
    ids = [instances[i] for i in shuffled_order(len(instances), rng_ids)]
    assert len(ids) == len(strings) > 50
    plain = CONTINUATION_FLAG - 1
    for by_id, by_string in zip(ids, strings):
        assert [t & plain for t in by_id.tokens] == [vocab[t] for t in by_string.tokens]
        assert [t & plain for t in by_id.masked_lm_labels] == [vocab[t] for t in by_string.masked_lm_labels]
        assert by_id.masked_lm_positions == by_string.masked_lm_positions
        assert (by_id.num_segment_a, by_id.is_random_next) == (by_string.num_segment_a, by_string.is_random_next)
    # The rng is where the original's would be after the final shuffle.
    random_after = random.Random(9)
    create_training_instances([list(d) for d in documents], config, list(vocab), random_after)
    assert rng_ids.random() == random_after.random()
