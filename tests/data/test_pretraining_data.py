"""Instance building, masking, Chinese whole-word groups, input planning, shards and record encoding."""

import os
import random
from pathlib import Path

import pytest

from data import pretraining_data as pd
from fileio.atomic import atomic_output
from data.chinese_words import ChineseWordSegmenter, ContinuationToken
from data.pretraining_data import GeneratorConfig, PretrainingDataError, Source
from data.pretraining_workers import next_document_start, plan_sources, shard_paths, worker_rng
from data.tfrecord_output import ExampleEncoder, crc32c_many, instance_features, tfrecord_frames
from data.tokenization import FullTokenizer


def test_written_out_shuffle_matches_library():
    assert pd._FAST_SHUFFLE
    for seed in range(5):
        ours, theirs = list(range(200)), list(range(200))
        a, b = random.Random(seed), random.Random(seed)
        pd.shuffle(ours, a)
        b.shuffle(theirs)
        assert ours == theirs and a.random() == b.random()


def test_config_validation():
    GeneratorConfig(max_seq_length=5).validate()
    with pytest.raises(PretrainingDataError, match="max_seq_length=4 is too small"):
        GeneratorConfig(max_seq_length=4).validate()
    for prob in (0.0, -0.1, 1.01):
        with pytest.raises(PretrainingDataError, match=r"masked_lm_prob=.* must be in \(0, 1\]"):
            GeneratorConfig(masked_lm_prob=prob).validate()
    GeneratorConfig(masked_lm_prob=1.0).validate()


def test_instances_are_well_formed_at_the_minimum_length():
    documents = [[["a", "b", "c"], ["d"], ["e", "f"]], [["g", "h"], ["i"]], [["j"]]]
    config = GeneratorConfig(max_seq_length=5, max_predictions_per_seq=3, dupe_factor=3, short_seq_prob=0.5)
    instances = pd.create_training_instances(documents, config, list("abcdefghij") + ["[MASK]"], random.Random(1))
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
    assert pd._candidate_groups(tokens, config) == [[1, 2, 3], [4, 6], [7]]
    for seed in range(20):
        _, positions, _ = pd.create_masked_lm_predictions(tokens, config, ["z"], random.Random(seed))
        assert {1, 2, 3} <= set(positions) or not {1, 2, 3} & set(positions)


@pytest.fixture(scope="module")
def segmenter(vocab_file):
    if not vocab_file.is_file():
        pytest.skip(f"{vocab_file} is absent")
    return ChineseWordSegmenter(FullTokenizer(str(vocab_file)))


LINES = ["我们在北京天安门广场看升旗仪式", "中华人民共和国成立于一九四九年", "自然语言处理是人工智能的重要方向",
         "研究人员提出了新的预训练模型"]


def test_chinese_wwm_masks_whole_jieba_words(segmenter):
    tokenizer = segmenter._tokenizer
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
            for word in segmenter._segmenter().lcut(line):
                words.append(set(range(start, start + len(word))))
                start += len(word)
        for seed in range(30):
            _, positions, labels = pd.create_masked_lm_predictions(tokens, config, vocab_words, random.Random(seed))
            masked = set(positions)
            assert labels == [tokens[p] for p in positions]
            for word in words:
                assert word <= masked or not word & masked, (word, masked)
                multi_char_words_masked += len(word) > 1 and word <= masked
    assert multi_char_words_masked > 20


def test_chinese_wwm_marks_only_multi_character_words(segmenter):
    tokens = segmenter.tokenize("我爱北京天安门")  # jieba: 我 / 爱 / 北京 / 天安门
    flags = [type(t) is ContinuationToken for t in tokens]
    assert tokens == ["我", "爱", "北", "京", "天", "安", "门"]
    assert flags == [False, False, False, True, False, True, True]


def _write(path, text):
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def test_document_boundaries_and_byte_range_plans(tmp_path):
    text = "a1\na2\n\nb1\nb2\nb3\n\nc1\n\n\nd1\nd2\n"
    path = _write(tmp_path / "in.txt", text)
    assert next_document_start(path, 0) == 0
    assert next_document_start(path, 1) == text.index("b1")
    assert next_document_start(path, text.index("b2")) == text.index("c1")
    assert next_document_start(path, len(text) - 2) == len(text)
    for workers in (2, 3, 4):
        plans = plan_sources([path], workers)
        assert len(plans) == workers
        # Workers' documents together are exactly the documents of a single reader.
        together = []
        for plan in plans:
            documents, _ = pd.read_documents(plan, str.split)
            together.extend(documents)
        single, _ = pd.read_documents([Source(path)], str.split)
        assert together == single


def test_whole_file_plans_balance_by_size(tmp_path):
    files = [_write(tmp_path / f"f{i}.txt", "x\n" * size) for i, size in enumerate([5, 50, 10, 40])]
    plans = plan_sources(files, 2)
    assert sorted(s.path for plan in plans for s in plan) == sorted(files)
    # Greedy, largest first: 50 -> w0, 40 -> w1, 10 -> w1, 5 -> w0; each worker keeps input order.
    assert plans == [[Source(files[0]), Source(files[1])], [Source(files[2]), Source(files[3])]]
    assert plan_sources(files, 1) == [[Source(f) for f in files]]


def test_shard_names():
    assert shard_paths(["a", "b"], 1) == [["a", "b"]]
    assert shard_paths(["a", "b", "c"], 2) == [["a", "c"], ["b"]]
    assert shard_paths(["out"], 2) == [["out-00000-of-00002"], ["out-00001-of-00002"]]
    assert worker_rng(5, 0, 1).random() == random.Random(5).random()
    assert worker_rng(5, 0, 2).random() != worker_rng(5, 1, 2).random()


def _bitwise_crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def test_crc32c_known_values_and_every_length():
    assert crc32c_many([b"123456789", b"", b"\x00" * 32]) == [0xE3069283, 0, 0x8A9136AA]
    rng = random.Random(0)
    blobs = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 41))) for _ in range(200)]
    assert crc32c_many(blobs) == [_bitwise_crc32c(b) for b in blobs]


def test_encoder_and_framing_match_tensorflow(tmp_path):
    tf = pytest.importorskip("tensorflow")
    inst = pd.TrainingInstance(["[CLS]", "a", "[SEP]", "b", "[SEP]"], 3, [1, 3], ["a", "b"], True)
    features = instance_features(inst, [2, 300, 3, 70000, 3], [300, 70000], 8, 3)
    record = ExampleEncoder(max_value=1000).encode(features)
    parsed = tf.train.Example.FromString(record).features.feature
    assert list(parsed["input_ids"].int64_list.value) == [2, 300, 3, 70000, 3, 0, 0, 0]
    assert list(parsed["segment_ids"].int64_list.value) == [0, 0, 0, 1, 1, 0, 0, 0]
    assert list(parsed["input_mask"].int64_list.value) == [1] * 5 + [0] * 3
    assert list(parsed["masked_lm_positions"].int64_list.value) == [1, 3, 0]
    assert list(parsed["masked_lm_ids"].int64_list.value) == [300, 70000, 0]
    assert list(parsed["masked_lm_weights"].float_list.value) == [1.0, 1.0, 0.0]
    assert list(parsed["next_sentence_labels"].int64_list.value) == [1]
    path = tmp_path / "x.tfrecord"
    path.write_bytes(tfrecord_frames([record, b"", record]))
    assert list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator()) == [record, b"", record]


def test_atomic_output_renames_on_success_and_cleans_up_on_failure(tmp_path):
    final = tmp_path / "out.bin"
    with atomic_output(final) as temporary:
        assert not final.exists()
        with open(temporary, "wb") as f:
            f.write(b"done")
    assert final.read_bytes() == b"done"
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "failed.bin") as temporary:
            with open(temporary, "wb") as f:
                f.write(b"half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_instance_encoder_equals_the_general_encoder():
    from data.tfrecord_output import InstanceEncoder

    vocab = {f"t{i}": i for i in range(3000)}
    vocab.update({"[CLS]": 3000, "[SEP]": 3001, "[MASK]": 3002})
    rng = random.Random(0)
    fast = InstanceEncoder(vocab, max_seq_length=300, max_predictions_per_seq=40)
    general = ExampleEncoder(max_value=4000)
    for _ in range(50):
        length = rng.randint(5, 300)
        tokens = ["[CLS]"] + [f"t{rng.randrange(3000)}" for _ in range(length - 2)] + ["[SEP]"]
        positions = sorted(rng.sample(range(1, length - 1), rng.randint(1, min(40, length - 2))))
        inst = pd.TrainingInstance(tokens, rng.randint(2, length - 1), positions,
                                   [f"t{rng.randrange(3000)}" for _ in positions], rng.random() < 0.5)
        features = instance_features(inst, [vocab[t] for t in tokens], [vocab[t] for t in inst.masked_lm_labels],
                                     300, 40)
        assert fast.encode(inst) == general.encode(features)


def test_progress_reports_rates_and_eta():
    import io

    from data.pretraining_workers import Progress

    stream = io.StringIO()
    progress = Progress("cpd", total_bytes=4_000_000, interval=0.0, stream=stream)
    progress.on_bytes(1_000_000)
    progress.start_instances(num_documents=10, rounds=2)
    progress.on_document(3)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[cpd] reading: 1.0 of 4.0 MB") and "ETA" in lines[0]
    assert "10 documents x 2 rounds" in lines[1]
    assert lines[2].startswith("[cpd] instances: 3 (") and "documents 1/20" in lines[2] and "ETA" in lines[2]


# ---- the compact, id-based path the generator uses -------------------------------------------------

def _vocab(words):
    return {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])}


def test_corpus_holds_the_documents_of_read_documents(tmp_path):
    text = "a b\nc\n\n\n d e f \n\nb\n\xff\n\na\n"
    path = tmp_path / "in.txt"
    path.write_bytes(text.encode("utf-8", errors="surrogateescape").replace(b"\xc3\xbf", b"\xff"))
    vocab = _vocab("abcdef")

    def tokenize(line):  # drops U+FFFD, as the real tokenizers do
        return line.replace("\ufffd", " ").split()

    documents, _ = pd.read_documents([Source(str(path))], tokenize)
    corpus, stats = pd.read_corpus([Source(str(path))], tokenize, vocab.__getitem__)
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
        pd.read_corpus([Source(str(path))], str.split, _vocab("ab").__getitem__)


@pytest.mark.parametrize("mode", ["plain", "google_wwm", "chinese_wwm"])
def test_id_tokens_make_the_instances_of_string_tokens(mode):
    """The generator's ids draw the same numbers and make the same instances as the original's strings."""
    rng = random.Random(0)
    words = ["x", "y", "z", "##s", "##t", "w"]
    vocab = _vocab(words + ["x"])  # a repeated word: its last id is the one written
    documents = [[[rng.choice(words) for _ in range(rng.randint(1, 12))] for _ in range(rng.randint(1, 6))]
                 for _ in range(30)]
    if mode == "chinese_wwm":
        documents = [[[ContinuationToken(t) if rng.random() < 0.3 else t for t in s] for s in d] for d in documents]
    config = GeneratorConfig(max_seq_length=24, max_predictions_per_seq=6, short_seq_prob=0.3, dupe_factor=2,
                             do_whole_word_mask=mode == "google_wwm", chinese_wwm=mode == "chinese_wwm")

    def token_id(token):
        return vocab[token] | (pd.CONTINUATION_FLAG if type(token) is ContinuationToken else 0)

    corpus = pd.Corpus()
    for document in documents:
        for sentence in document:
            corpus.add_sentence(map(token_id, sentence))
        corpus.end_document()
    strings = pd.create_training_instances([list(d) for d in documents], config, list(vocab), random.Random(9))
    rng_ids = random.Random(9)
    instances = list(pd.iter_training_instances(corpus, config, pd.TokenKinds.for_ids(vocab), rng_ids))
    ids = [instances[i] for i in pd.shuffled_order(len(instances), rng_ids)]
    assert len(ids) == len(strings) > 50
    plain = pd.CONTINUATION_FLAG - 1
    for by_id, by_string in zip(ids, strings):
        assert [t & plain for t in by_id.tokens] == [vocab[t] for t in by_string.tokens]
        assert [t & plain for t in by_id.masked_lm_labels] == [vocab[t] for t in by_string.masked_lm_labels]
        assert by_id.masked_lm_positions == by_string.masked_lm_positions
        assert (by_id.num_segment_a, by_id.is_random_next) == (by_string.num_segment_a, by_string.is_random_next)
    # The rng is where the original's would be after the final shuffle.
    random_after = random.Random(9)
    pd.create_training_instances([list(d) for d in documents], config, list(vocab), random_after)
    assert rng_ids.random() == random_after.random()


def test_shuffled_order_is_the_permutation_of_rng_shuffle():
    for count in (0, 1, 2, 1000):
        items = list(range(count))
        random.Random(count).shuffle(items)
        assert list(pd.shuffled_order(count, random.Random(count))) == items


def test_spool_reads_frames_back_in_any_order_and_leaves_no_file(tmp_path):
    from data.tfrecord_output import RecordSpool, write_in_order

    records = [bytes([k % 251]) * (k % 37) for k in range(1000)]
    with RecordSpool(tmp_path, batch=64) as spool:
        for record in records:
            spool.add(record)
        assert list(tmp_path.iterdir()) == []  # unlinked from the start
        order = pd.shuffled_order(len(records), random.Random(1))
        counts = write_in_order(spool, order, [tmp_path / "a", tmp_path / "b"])
    assert counts == [500, 500]
    expected_a = tfrecord_frames([records[i] for i in order[0::2]])
    assert (tmp_path / "a").read_bytes() == expected_a
    assert (tmp_path / "b").read_bytes() == tfrecord_frames([records[i] for i in order[1::2]])


@pytest.mark.parametrize("unnamed_files", [True, False])
def test_spool_file_is_never_left_under_a_name(tmp_path, monkeypatch, unnamed_files):
    from data import tfrecord_output

    if not unnamed_files:  # the way for systems without O_TMPFILE: named, then unlinked at once
        monkeypatch.delattr(tfrecord_output.os, "O_TMPFILE", raising=False)
    created = []
    real_open = tfrecord_output.os.open

    def open_then_stop(path, flags, mode=0o777):
        created.append(real_open(path, flags, mode))
        raise SystemExit(143)  # what a SIGTERM arriving just after the creation raises

    monkeypatch.setattr(tfrecord_output.os, "open", open_then_stop)
    with pytest.raises(SystemExit):
        tfrecord_output.RecordSpool(tmp_path)
    assert created and list(tmp_path.iterdir()) == []
    monkeypatch.setattr(tfrecord_output.os, "open", real_open)
    for fd in created:
        os.close(fd)
    with tfrecord_output.RecordSpool(tmp_path) as spool:
        spool.add(b"record")
        spool.flush()
        assert list(tmp_path.iterdir()) == []
        assert spool.frame(0) == tfrecord_frames([b"record"])


def test_groups_are_whole_documents_of_at_most_the_group_size(tmp_path):
    from data.pretraining_workers import last_document_start, plan_groups

    rng = random.Random(4)
    lines = []
    for k in range(200):
        lines += [f"d{k} " + "x" * rng.randint(0, 30) for _ in range(rng.randint(1, 5))] + [""]
    lines[50:50] = ["long " * 100]  # one document longer than a group
    text = "\n".join(lines) + "\n"
    path = _write(tmp_path / "in.txt", text)
    other = _write(tmp_path / "other.txt", "e1\n\ne2\n")  # no blank line at its end
    assert last_document_start(path, 0, 3) is None
    assert last_document_start(path, 0, len(text)) == len(text)
    groups = plan_groups([path, other], 300)
    assert groups[-1] == Source(other, 0, len("e1\n\ne2\n"))  # a group never spans two files
    mine = groups[:-1]
    assert mine[0].start == 0 and mine[-1].end == len(text)
    assert all(a.end == b.start for a, b in zip(mine, mine[1:]))
    oversized = [g for g in mine if g.size() > 300]
    assert len(oversized) == 1 and "long " * 100 in text[oversized[0].start:oversized[0].end]
    single, _ = pd.read_documents([Source(path)], str.split)
    together = []
    for group in mine:
        assert group.start == 0 or text[:group.start].endswith("\n\n")  # cut right after a blank line
        together.extend(pd.read_documents([group], str.split)[0])
    assert together == single
    # The next cut is the last document start that fits: one more document would not.
    for a, b in zip(mine, mine[1:]):
        if a.size() <= 300:
            assert next_document_start(path, b.start + 1) - a.start > 300


def test_task_from_flags_or_launcher_environment():
    from data.pretraining_workers import resolve_task

    assert resolve_task(environ={}) == (0, 1, "one task")
    assert resolve_task(environ={"HOROVOD_RANK": "1", "HOROVOD_SIZE": "4"})[:2] == (1, 4)
    assert resolve_task(environ={"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "3"})[:2] == (2, 3)
    assert resolve_task(environ={"PMI_RANK": "0", "PMI_SIZE": "2"})[:2] == (0, 2)
    # Flags win over the environment.
    assert resolve_task(3, 5, environ={"HOROVOD_RANK": "1", "HOROVOD_SIZE": "4"})[:2] == (3, 5)
    with pytest.raises(PretrainingDataError, match="both --task_index and --num_tasks"):
        resolve_task(1, None, environ={})
    with pytest.raises(PretrainingDataError, match="need 0 <= index < count"):
        resolve_task(environ={"HOROVOD_RANK": "4", "HOROVOD_SIZE": "4"})
    with pytest.raises(PretrainingDataError, match="expected two integers"):
        resolve_task(environ={"PMI_RANK": "0"})


def test_stale_temporaries_of_our_outputs_are_removed(tmp_path):
    from fileio.atomic import temporary_name
    from data.pretraining_workers import remove_stale_temporaries

    output = tmp_path / "out.tfrecord"
    stale = Path(temporary_name(output))
    stale.write_bytes(b"half")
    unrelated = [tmp_path / ".out.tfrecord2.tmp-1-0123abcd", tmp_path / "keep.txt"]
    for path in unrelated:
        path.write_bytes(b"x")
    remove_stale_temporaries(output)
    assert not stale.exists() and all(p.exists() for p in unrelated)
