"""data/generation/encoding.py: the masked records' bytes equal TensorFlow's, the fast encoder the general one,
and the word numbers of the unmasked records are the static generator's masking groups."""

import random

import pytest

from data.generation.chinese_words import ContinuationToken
from data.generation.config import GeneratorConfig
from data.generation.encoding import InstanceEncoder, word_ids
from data.generation.instances import TrainingInstance
from data.generation.tfrecord import tfrecord_frames
from tests.data.generation.generation_reference import ExampleEncoder, instance_features


def test_encoder_and_framing_match_tensorflow(tmp_path):
    tf = pytest.importorskip("tensorflow")
    inst = TrainingInstance(["[CLS]", "a", "[SEP]", "b", "[SEP]"], 3, [1, 3], ["a", "b"], True)
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


def test_instance_encoder_equals_the_general_encoder():
    vocab = {f"t{i}": i for i in range(3000)}
    vocab.update({"[CLS]": 3000, "[SEP]": 3001, "[MASK]": 3002})
    rng = random.Random(0)
    fast = InstanceEncoder(vocab, max_seq_length=300, max_predictions_per_seq=40)
    general = ExampleEncoder(max_value=4000)
    for _ in range(50):
        length = rng.randint(5, 300)
        tokens = ["[CLS]"] + [f"t{rng.randrange(3000)}" for _ in range(length - 2)] + ["[SEP]"]
        positions = sorted(rng.sample(range(1, length - 1), rng.randint(1, min(40, length - 2))))
        inst = TrainingInstance(tokens, rng.randint(2, length - 1), positions,
                                   [f"t{rng.randrange(3000)}" for _ in positions], rng.random() < 0.5)
        features = instance_features(inst, [vocab[t] for t in tokens], [vocab[t] for t in inst.masked_lm_labels],
                                     300, 40)
        assert fast.encode(inst) == general.encode(features)


def test_word_ids_number_the_static_generators_groups():
    tokens = ["[CLS]", "un", "##want", "##ed", "run", "[SEP]", "##ing", "x", "[SEP]"]
    # The original's '##' rule, joined across [SEP] as there: the masks are the same groups.
    assert word_ids(tokens, GeneratorConfig(do_whole_word_mask=True)) == [0, 1, 1, 1, 2, 0, 2, 3, 0]
    assert word_ids(tokens, GeneratorConfig()) == [0, 1, 2, 3, 4, 0, 5, 6, 0]
    chinese = ["[CLS]", "我", "爱", "北", ContinuationToken("京"), "[SEP]", ContinuationToken("天"), "[SEP]"]
    assert word_ids(chinese, GeneratorConfig(chinese_wwm=True)) == [0, 1, 2, 3, 3, 0, 4, 0]
