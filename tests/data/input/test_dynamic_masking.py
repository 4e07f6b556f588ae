"""Dynamic whole-word masking: the unmasked records, the masks drawn in tf.data, their statistics on
real records, determinism, and the errors when static and unmasked records are mixed up."""
import collections
import dataclasses
import random

import numpy as np
import pytest
import tensorflow as tf

from data.generation.config import GeneratorConfig
from data.generation.generator import generate
from data.generation.instances import candidate_groups, create_masked_lm_predictions
from data.input.dynamic_masking import DynamicMasking, mask_batch
from data.input.pretraining_dataset import pretraining_dataset
from data.input.records import InputFileError, tf_dtype
from data.record_schema import UNMASKED_FEATURES, unmasked_lengths
from data.tokenization import load_vocab

SEQ, PREDS, PROB = 128, 20, 0.15
CLS_ID, SEP_ID, MASK_ID = 101, 102, 103


@pytest.fixture(scope="module")
def zh_records(shared_dir, vocab_file, tmp_path_factory):
    """Unmasked records (--chinese_wwm, jieba words) of the first 3000 lines of clue_small.txt."""
    directory = tmp_path_factory.mktemp("dynamic")
    corpus = directory / "zh.txt"
    with open(shared_dir / "data" / "zh_corpus" / "clue_small.txt", encoding="utf-8") as source:
        corpus.write_text("".join(line for _, line in zip(range(3000), source)), encoding="utf-8")
    output = directory / "zh_dynamic.tfrecord"
    config = GeneratorConfig(max_seq_length=SEQ, dupe_factor=1, chinese_wwm=True, dynamic_masking=True)
    generate(str(corpus), [str(output)], str(vocab_file), None, True, config, 5, show_progress=False)
    return output


def read_unmasked(path, seq=SEQ):
    records = list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
    spec = {name: tf.io.FixedLenFeature([length], tf_dtype(name)) for name, (length, _) in unmasked_lengths(seq).items()}
    parsed = tf.io.parse_example(records, spec)
    return {name: t.numpy() for name, t in parsed.items()}


def masking_for(vocab_file, prob=PROB, seed=1):
    return DynamicMasking.from_vocab_file(str(vocab_file), prob, seed)


# ---- the generator side ------------------------------------------------------------------------

def test_unmasked_records_hold_the_pairs_and_their_words(zh_records, vocab_file):
    arrays = read_unmasked(zh_records)
    assert len(arrays["input_ids"]) > 500
    example = tf.train.Example.FromString(next(tf.data.TFRecordDataset(str(zh_records)).as_numpy_iterator()))
    assert sorted(example.features.feature) == sorted(UNMASKED_FEATURES)
    ids, mask, words, segments = arrays["input_ids"], arrays["input_mask"], arrays["word_ids"], arrays["segment_ids"]
    special = (ids == CLS_ID) | (ids == SEP_ID) | (mask == 0)
    assert np.array_equal(words == 0, special)  # exactly [CLS], [SEP] and padding are never masked
    assert not (ids == MASK_ID).any()  # nothing is masked in the file
    for row_ids, row_words, row_mask, row_segments in zip(ids, words, mask, segments):
        n = row_mask.sum()
        assert row_ids[0] == CLS_ID and row_ids[n - 1] == SEP_ID and row_mask[:n].all() and not row_mask[n:].any() and not row_segments[n:].any()
        numbers = [w for w in row_words if w]
        assert numbers[0] == 1 and all(b - a in (0, 1) for a, b in zip(numbers, numbers[1:]))
    # jieba words span several characters: about a third of the maskable tokens continue a word.
    continuing = sum(int(np.sum((r[1:] == r[:-1]) & (r[1:] > 0))) for r in words)
    assert continuing > 0.2 * np.sum(words > 0)


# ---- the masks: exactly the rule, given the random bits -------------------------------------------

def reference_mask(ids, mask, words, bits, mask_id, table, prob, preds):
    """The static generator's masking (spec section 4) written plainly, drawing from `bits`."""
    n = int(mask.sum())
    budget = min(preds, max(1, int(round(n * prob))))
    lengths = collections.Counter(int(w) for w in words if w > 0)
    order = sorted(lengths, key=lambda w: (int(bits[0][w]), w))  # the shuffle: words by their key
    chosen, count = set(), 0
    for word in order:
        if count >= budget:
            break
        if count + lengths[word] > budget:
            continue
        chosen.add(word)
        count += lengths[word]
    out = ids.copy()
    positions = [p for p in range(len(ids)) if words[p] in chosen]
    for p in positions:
        if (int(bits[1][p]) & ((1 << 53) - 1)) / 2 ** 53 < 0.8:
            out[p] = mask_id
        elif (int(bits[2][p]) & ((1 << 53) - 1)) / 2 ** 53 >= 0.5:
            out[p] = table[(int(bits[3][p]) & ((1 << 62) - 1)) % len(table)]
    pad = [0] * (preds - len(positions))
    return out, positions + pad, [int(ids[p]) for p in positions] + pad, [1.0] * len(positions) + [0.0] * len(pad)


@pytest.mark.parametrize("seq,preds,prob", [(128, 20, 0.15), (16, 20, 0.5), (64, 5, 0.4)])
def test_vectorised_masks_equal_the_plain_rule(zh_records, vocab_file, seq, preds, prob):
    arrays = read_unmasked(zh_records)
    rng = np.random.RandomState(seq + preds)
    rows = rng.choice(len(arrays["input_ids"]), 48, replace=False)
    features = {}
    for name, values in arrays.items():
        values = values[rows]
        if values.shape[1] == SEQ and seq < SEQ:  # cut to `seq`: [CLS] ... up to seq-1, then a [SEP]
            values = values[:, :seq].copy()
            keep = arrays["input_mask"][rows][:, seq - 1] == 1
            values[keep, seq - 1] = {"input_ids": SEP_ID, "word_ids": 0}.get(name, values[keep, seq - 1])
        features[name] = values.astype(np.int32)
    bits = rng.randint(-2 ** 63, 2 ** 63 - 1, size=(48, 4, seq), dtype=np.int64)
    # Collisions of sort keys happen: the tie goes to the lower word number, as the plain sort does.
    bits[:4, 0, :] = bits[:4, 0, :] % 3
    table = list(range(21128))
    out = mask_batch({k: tf.constant(v) for k, v in features.items()}, tf.constant(bits), MASK_ID, table, prob, preds)
    out = {k: v.numpy() for k, v in out.items()}
    budget_hit = 0
    for i in range(48):
        ids, positions, labels, weights = reference_mask(features["input_ids"][i], features["input_mask"][i],
                                                         features["word_ids"][i], bits[i], MASK_ID, table, prob, preds)
        assert list(out["input_ids"][i]) == list(ids), i
        assert list(out["masked_lm_positions"][i]) == positions, i
        assert list(out["masked_lm_ids"][i]) == labels, i
        assert list(out["masked_lm_weights"][i]) == weights, i
        budget_hit += sum(weights) == min(preds, max(1, round(features["input_mask"][i].sum() * prob)))
    assert budget_hit > 24  # most sequences reach num_to_predict exactly
    for name in ("input_mask", "segment_ids", "next_sentence_labels"):
        assert np.array_equal(out[name], features[name])


# ---- the masks: statistics over many draws on real records -------------------------------------------

def five_sigma(p, n):
    return 5 * np.sqrt(p * (1 - p) / n)


@pytest.fixture(scope="module")
def many_draws(zh_records, vocab_file):
    """40 epochs over the first 256 records, in order (--deterministic): 10240 masked sequences."""
    unmasked = {name: values[:256] for name, values in read_unmasked(zh_records).items()}
    path = zh_records.parent / "first256.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in tf.data.TFRecordDataset(str(zh_records)).take(256).as_numpy_iterator():
            writer.write(record)
    dataset = pretraining_dataset([str(path)], 64, SEQ, PREDS, deterministic=True, masking=masking_for(vocab_file),
                                  vocab_size=21128)
    draws = collections.defaultdict(list)
    for batch in dataset.take(40 * 256 // 64):
        for name, values in batch.items():
            draws[name].append(values.numpy())
    draws = {name: np.concatenate(values) for name, values in draws.items()}
    return unmasked, draws


def test_masks_are_whole_words_within_the_cap_and_never_special(many_draws):
    unmasked, draws = many_draws
    epochs = len(draws["input_ids"]) // 256
    tiled = {name: np.tile(values, (epochs, 1)) for name, values in unmasked.items()}
    weights = draws["masked_lm_weights"]
    counts = weights.sum(axis=1).astype(int)
    budget = np.array([min(PREDS, max(1, round(n * PROB))) for n in tiled["input_mask"].sum(axis=1)])
    assert (counts >= 1).all() and (counts <= budget).all()
    multi_char_masked = 0
    for i in range(len(counts)):
        positions = draws["masked_lm_positions"][i][:counts[i]]
        assert (np.diff(positions) > 0).all() and not draws["masked_lm_positions"][i][counts[i]:].any()
        words = tiled["word_ids"][i]
        assert (words[positions] > 0).all()  # never [CLS], [SEP] or padding
        masked_words = set(words[positions])
        assert set(np.nonzero(np.isin(words, list(masked_words)))[0]) == set(positions)  # whole words only
        multi_char_masked += sum(np.sum(words == w) > 1 for w in masked_words)
        assert list(draws["masked_lm_ids"][i][:counts[i]]) == list(tiled["input_ids"][i][positions])
        changed = np.nonzero(draws["input_ids"][i] != tiled["input_ids"][i])[0]
        assert set(changed) <= set(positions)
    assert multi_char_masked > 0.2 * counts.sum() / 2  # jieba words of several characters are masked


def test_mask_share_and_split_follow_the_binomial(many_draws, vocab_file):
    unmasked, draws = many_draws
    epochs = len(draws["input_ids"]) // 256
    original = np.tile(unmasked["input_ids"], (epochs, 1))
    rows, columns = np.nonzero(draws["masked_lm_weights"])
    positions = draws["masked_lm_positions"][rows, columns]
    before, after = original[rows, positions], draws["input_ids"][rows, positions]
    n = len(rows)
    vocab_size = len(load_vocab(str(vocab_file)))
    as_mask = np.mean(after == MASK_ID)
    unchanged = np.mean(after == before)
    other = after[(after != MASK_ID) & (after != before)]
    # 0.8 [MASK]; 0.1 kept + 0.1 / V a random id that happens to be the same; the rest random.
    assert abs(as_mask - 0.8) < five_sigma(0.8, n)
    p_same = 0.1 + 0.1 / vocab_size
    assert abs(unchanged - p_same) < five_sigma(p_same, n)
    assert abs(len(other) / n - (0.1 - 0.1 / vocab_size)) < five_sigma(0.1, n)
    # Random ids come from the whole vocabulary, special and [unused] entries included, uniformly.
    low = np.mean(other < 1000)
    assert abs(low - 1000 / vocab_size) < five_sigma(1000 / vocab_size, len(other)) + 1 / vocab_size
    assert (other < 106).any()
    assert abs(np.mean(other) / vocab_size - 0.5) < five_sigma(1 / 12 ** 0.5, len(other)) * 2


def test_mask_counts_match_the_static_generator(many_draws):
    """The count of masked tokens per sequence has the static generator's distribution: the same
    sequences are masked with pretraining_data.create_masked_lm_predictions (tokens rebuilt so
    that its '##' rule gives the same words) and the means compared within their standard errors."""
    unmasked, draws = many_draws
    config = GeneratorConfig(max_seq_length=SEQ, max_predictions_per_seq=PREDS, masked_lm_prob=PROB,
                             do_whole_word_mask=True)
    rng = random.Random(3)
    static_counts = []
    for words, mask in zip(unmasked["word_ids"], unmasked["input_mask"]):
        tokens, previous = [], 0
        for w, m in zip(words, mask):
            if not m:
                break
            tokens.append("[CLS]" if not w and not tokens else "[SEP]" if not w else "##c" if w == previous else "c")
            previous = w or previous
        assert candidate_groups(tokens, config) == [list(np.nonzero(words == k)[0]) for k in range(1, words.max() + 1)]
        static_counts += [len(create_masked_lm_predictions(tokens, config, ["c"], rng)[1]) for _ in range(40)]
    static_counts = np.array(static_counts)
    dynamic_counts = draws["masked_lm_weights"].sum(axis=1)
    difference = abs(static_counts.mean() - dynamic_counts.mean())
    spread = np.sqrt(static_counts.var() / len(static_counts) + dynamic_counts.var() / len(dynamic_counts))
    assert difference < 5 * spread + 1e-9, (static_counts.mean(), dynamic_counts.mean())
    # How often a sequence gets all num_to_predict tokens (and not fewer, for want of a word that
    # fits) is the same binomial proportion in both.
    budgets = np.array([min(PREDS, max(1, round(n * PROB))) for n in unmasked["input_mask"].sum(axis=1)])
    static_full = np.mean(static_counts == np.repeat(budgets, 40))
    dynamic_full = np.mean(dynamic_counts == np.tile(budgets, len(dynamic_counts) // 256))
    pooled = (static_full + dynamic_full) / 2
    assert abs(static_full - dynamic_full) < 5 * np.sqrt(pooled * (1 - pooled) * 2 / len(dynamic_counts))
    assert dynamic_full < 1  # the case is exercised: some sequences end below num_to_predict


# ---- determinism ---------------------------------------------------------------------------------

def batches(path, vocab_file, count, batch_size=8, seed=1, skip=0, deterministic=True):
    dataset = pretraining_dataset([str(path)], batch_size, SEQ, PREDS, deterministic=deterministic,
                                  skip_batches=skip, masking=masking_for(vocab_file, seed=seed))
    return [{k: v.numpy() for k, v in b.items()} for b in dataset.take(count)]


def flat(batch_list, name):
    return np.concatenate([b[name] for b in batch_list])


def test_same_seed_same_masks_other_epoch_other_masks(zh_records, tmp_path, vocab_file):
    path = tmp_path / "small.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in tf.data.TFRecordDataset(str(zh_records)).take(32).as_numpy_iterator():
            writer.write(record)
    first, again = batches(path, vocab_file, 8), batches(path, vocab_file, 8)
    for name in first[0]:
        assert np.array_equal(flat(first, name), flat(again, name))
    positions = flat(first, "masked_lm_positions")
    epoch0, epoch1 = positions[:32], positions[32:]  # the same 32 records, read twice
    assert np.array_equal(flat(first, "input_mask")[:32], flat(first, "input_mask")[32:])
    assert np.mean([not np.array_equal(a, b) for a, b in zip(epoch0, epoch1)]) > 0.9
    other_seed = flat(batches(path, vocab_file, 4, seed=2), "masked_lm_positions")
    assert np.mean([not np.array_equal(a, b) for a, b in zip(epoch0, other_seed)]) > 0.9
    # A record's mask does not depend on the batch size ...
    assert np.array_equal(flat(batches(path, vocab_file, 2, batch_size=32), "input_ids"), flat(first, "input_ids"))
    # ... and a resumed run that skips the consumed batches continues the same stream.
    resumed = batches(path, vocab_file, 3, skip=5)
    assert np.array_equal(flat(resumed, "input_ids"), flat(first[5:8], "input_ids"))
    # Evaluation: every record once, the first epoch's masks.
    evaluation = pretraining_dataset([str(path)], 8, SEQ, PREDS, is_training=False, masking=masking_for(vocab_file))
    assert np.array_equal(np.concatenate([b["input_ids"].numpy() for b in evaluation]), flat(first, "input_ids")[:32])


def test_a_rank_draws_the_masks_of_its_share_of_every_file(zh_records, tmp_path, vocab_file):
    """Under Horovod each rank reads the records of every file whose index is its rank modulo the
    number of ranks; with --deterministic a record's masks depend on its file's name and index,
    not on the rank or the number of ranks, so they are the single process's masks of those records."""
    records = list(tf.data.TFRecordDataset(str(zh_records)).take(32).as_numpy_iterator())
    paths = [tmp_path / f"part{i}.tfrecord" for i in range(2)]
    for i, path in enumerate(paths):
        with tf.io.TFRecordWriter(str(path)) as writer:
            for record in records[16 * i:16 * (i + 1)]:
                writer.write(record)
    files = [str(p) for p in paths]
    alone = pretraining_dataset(files, 8, SEQ, PREDS, deterministic=True, masking=masking_for(vocab_file))
    alone = [{k: v.numpy() for k, v in b.items()} for b in alone.take(4)]
    for rank in range(2):
        sharded = pretraining_dataset(files, 8, SEQ, PREDS, num_shards=2, shard_index=rank,
                                      deterministic=True, masking=masking_for(vocab_file))
        sharded = [{k: v.numpy() for k, v in b.items()} for b in sharded.take(2)]
        mine = np.arange(32) % 2 == rank  # index in its file (16 each) modulo 2
        for name in ("input_ids", "masked_lm_positions", "masked_lm_ids"):
            assert np.array_equal(flat(sharded, name), flat(alone, name)[mine]), name
    # The two files hold different records, drawn with different keys: the ranks' streams differ.
    assert not np.array_equal(flat(batches(paths[0], vocab_file, 2), "masked_lm_positions"),
                              flat(batches(paths[1], vocab_file, 2), "masked_lm_positions"))


def test_without_deterministic_each_stream_draws_its_own_masks(zh_records, vocab_file):
    def positions(stream, shard_index=0):
        masking = dataclasses.replace(masking_for(vocab_file), stream=stream)
        dataset = masking.dataset([str(zh_records)], 16, SEQ, PREDS, deterministic=False, shard_index=shard_index)
        batch = next(iter(dataset))
        return {tuple(ids): tuple(p) for ids, p in zip(batch["masked_lm_ids"].numpy(), batch["masked_lm_positions"].numpy())}

    # One file read through a seeded 100-record shuffle: the same records in the same order, so
    # the masks differ only by the stream (another resume point, another rank).
    first = positions(0)
    assert len(first) == 16
    assert positions(0) == first
    assert positions(7) != first and positions(0, shard_index=1) != first


# ---- mixing up the two kinds of records -------------------------------------------------------------

def test_static_records_with_dynamic_masking_say_so(shared_dir, vocab_file):
    static = sorted((shared_dir / "data" / "pretrain_toy").glob("*.tfrecord"))[0]
    with pytest.raises(InputFileError, match="holds masked records .*written without --dynamic_masking"):
        pretraining_dataset([str(static)], 8, SEQ, PREDS, masking=masking_for(vocab_file))


def test_unmasked_records_without_dynamic_masking_say_so(zh_records):
    with pytest.raises(InputFileError, match="holds unmasked records .*train with --dynamic_masking"):
        pretraining_dataset([str(zh_records)], 8, SEQ, PREDS)


def test_unmasked_records_of_another_length_say_so(zh_records, vocab_file):
    with pytest.raises(InputFileError, match="word_ids of length 128, but --max_seq_length is 64|"
                                             "input_ids of length 128, but --max_seq_length is 64"):
        pretraining_dataset([str(zh_records)], 8, 64, PREDS, masking=masking_for(vocab_file))


def test_sentence_pairs_with_one_segment_type_say_so(zh_records, vocab_file):
    with pytest.raises(InputFileError, match=r"record 0 has segment id 1, but the model config's type_vocab_size "
                                             r"is 1 \(sentence pairs need at least 2\)"):
        pretraining_dataset([str(zh_records)], 8, SEQ, PREDS, masking=masking_for(vocab_file), type_vocab_size=1)
    pretraining_dataset([str(zh_records)], 8, SEQ, PREDS, masking=masking_for(vocab_file), type_vocab_size=2)


def test_vocabulary_is_required_and_checked(tmp_path, vocab_file):
    with pytest.raises(InputFileError, match="--dynamic_masking needs --vocab_file"):
        DynamicMasking.from_vocab_file(None)
    no_mask = tmp_path / "vocab.txt"
    no_mask.write_text("[PAD]\n[CLS]\n[SEP]\na\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="no \\[MASK\\] token"):
        DynamicMasking.from_vocab_file(str(no_mask))
    with pytest.raises(InputFileError, match="21128 tokens but the model config's vocab_size is 100"):
        DynamicMasking.from_vocab_file(str(vocab_file), model_vocab_size=100)


def test_greedy_walk_skips_words_that_no_longer_fit():
    """Words of 1 to 6 positions and small budgets: many words are skipped in the middle of the walk."""
    rng = np.random.RandomState(4)
    batch, seq = 64, 40
    words = np.zeros((batch, seq), np.int32)
    for row in words:
        position, number = 1, 1
        while position < seq - 1:
            length = min(rng.randint(1, 7), seq - 1 - position)
            row[position:position + length] = number
            position, number = position + length, number + 1
    features = {"input_ids": rng.randint(200, 21128, size=(batch, seq)).astype(np.int32),
                "input_mask": np.ones((batch, seq), np.int32), "segment_ids": np.zeros((batch, seq), np.int32),
                "word_ids": words, "next_sentence_labels": np.zeros((batch, 1), np.int32)}
    bits = rng.randint(-2 ** 63, 2 ** 63 - 1, size=(batch, 4, seq), dtype=np.int64)
    table = list(range(21128))
    out = mask_batch({k: tf.constant(v) for k, v in features.items()}, tf.constant(bits), MASK_ID, table, 0.2, 7)
    skipped_then_taken = 0
    for i in range(batch):
        _, positions, _, weights = reference_mask(features["input_ids"][i], features["input_mask"][i], words[i],
                                                  bits[i], MASK_ID, table, 0.2, 7)
        assert list(out["masked_lm_positions"].numpy()[i]) == positions, i
        # Stopping at the first word that does not fit would take fewer: a later word was taken.
        lengths = collections.Counter(int(w) for w in words[i] if w)
        prefix = 0
        for word in sorted(lengths, key=lambda w: (int(bits[i][0][w]), w)):
            if prefix + lengths[word] > 7:
                break
            prefix += lengths[word]
        skipped_then_taken += sum(weights) > prefix
    assert skipped_then_taken > 10


@pytest.mark.parametrize("deterministic", [True, False])
def test_a_bad_record_later_in_a_file_is_named(zh_records, tmp_path, vocab_file, deterministic):
    """Only each file's first record is looked at up front; every record is checked as it is read."""
    records = list(tf.data.TFRecordDataset(str(zh_records)).take(8).as_numpy_iterator())
    bad = tf.train.Example.FromString(records[5])
    del bad.features.feature["word_ids"].int64_list.value[5:]
    path = tmp_path / "bad.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records[:5] + [bad.SerializeToString()] + records[6:]:
            writer.write(record)
    dataset = pretraining_dataset([str(path)], 4, SEQ, PREDS, deterministic=deterministic,
                                  masking=masking_for(vocab_file))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="bad.tfrecord: record 5 .*has word_ids of length 5, but --max_seq_length is 128"):
        for _ in dataset.take(4):
            pass
