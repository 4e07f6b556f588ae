import json

import pytest

from data.tasks.reading import (ReadingData, ReadingExample, convert_examples, decode_predictions, read_examples,
                                split_words)


def squad(context, qas):
    return {"version": "v1", "data": [{"paragraphs": [{"context": context, "qas": qas}]}]}


def write_json(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def test_words_keep_character_offsets():
    context = "光荣和ω-force 开发，2008年"
    words = split_words(context)
    assert [w.text for w in words] == ["光", "荣", "和", "ω", "-", "force", "开", "发", "，", "2008", "年"]
    assert all(context[w.start:w.end] == w.text for w in words)


def test_answer_not_at_answer_start_is_reported_and_skipped(tmp_path, caplog):
    path = write_json(tmp_path / "train.json", squad("北京是中国的首都", [
        {"id": "good", "question": "首都?", "answers": [{"text": "北京", "answer_start": 0}]},
        {"id": "bad", "question": "首都?", "answers": [{"text": "北京", "answer_start": 3}]}]))
    examples = read_examples(path, training=True)
    assert [e.qas_id for e in examples] == ["good"]
    assert "question bad" in caplog.text and "skipped 1" in caplog.text


def test_max_seq_length_too_small_for_the_question(tokenizer):
    example = ReadingExample("q", "一二三四五六", "北京", split_words("北京"), ["北京"])
    with pytest.raises(ValueError, match="too small for question q"):
        convert_examples([example], tokenizer, 8, 2, 64, training=False)


def _example(context, question, start, text):
    return ReadingExample("q", question, context, split_words(context), [text], start, text)


def test_sliding_windows_and_training_positions(tokenizer):
    context = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉"
    example = _example(context, "问", context.index("寅卯"), "寅卯")
    # 16 - 1 query - 3 = 12 context tokens per window, stride 5: windows at 0, 5, 10
    features = convert_examples([example], tokenizer, 16, 5, 64, training=True)
    assert [f.window_index for f in features] == [0, 1, 2]
    for feature in features:
        assert feature.tokens[:3] == ["[CLS]", "问", "[SEP]"] and feature.tokens[-1] == "[SEP]"
        assert len(feature.input_ids) == 16 and feature.segment_ids[:3] == [0, 0, 0]
        if feature.start_position:
            start, _ = feature.token_char_span[feature.start_position]
            _, end = feature.token_char_span[feature.end_position]
            assert context[start:end] == "寅卯"
    # 寅卯 is characters 12-13: outside window 0 (0-11), inside windows 1 (5-16) and 2 (10-19)
    assert features[0].start_position == 0 and features[1].start_position and features[2].start_position
    # the max-context window of character 12 is window 1 (5 left, 4 right) not 2 (2 left)
    assert features[1].token_is_max_context[3 + 12 - 5] and not features[2].token_is_max_context[3 + 12 - 10]


def test_decoding_returns_exact_context_substrings(tokenizer):
    context = "NEZHA由华为 Noah's Ark 实验室开发。"
    example = _example(context, "谁开发的?", 0, "N")
    features = convert_examples([example], tokenizer, 64, 128, 64, training=False)
    feature = features[0]
    tokens = feature.tokens
    start, end = tokens.index("华"), tokens.index("##k")
    start_logits = [0.0] * 64
    end_logits = [0.0] * 64
    start_logits[start], end_logits[end] = 5.0, 5.0
    start_logits[0] = end_logits[0] = 9.0  # [CLS] is never an answer
    predictions, nbest = decode_predictions([example], features, {feature.unique_id: (start_logits, end_logits)},
                                            n_best_size=20, max_answer_length=30)
    assert predictions["q"] == "华为 Noah's Ark"
    # a span ending inside a word ends at that piece's characters: "ne ##z" -> "NEZ"
    start_logits[tokens.index("ne")], end_logits[tokens.index("##z")] = 20.0, 20.0
    predictions, _ = decode_predictions([example], features, {feature.unique_id: (start_logits, end_logits)})
    assert predictions["q"] == "NEZ"
    assert 3 <= len(nbest["q"]) <= 20 and nbest["q"][0]["text"] == "华为 Noah's Ark"
    assert sum(n["probability"] for n in nbest["q"]) == pytest.approx(1.0)
    assert all(n["text"] in context for n in nbest["q"])


def test_shared_cmrc_training_answers_map_back(tokenizer, data_dir):
    import itertools
    examples = read_examples(data_dir / "cmrc2018" / "cmrc2018_train.json", training=True)
    assert len(examples) > 10000
    sample = list(itertools.islice(examples, 0, 200))
    features = convert_examples(sample, tokenizer, 256, 128, 64, training=True)
    exact = total = 0
    for feature in features:
        if feature.start_position:
            example = sample[feature.example_index]
            total += 1
            span = example.context[feature.token_char_span[feature.start_position][0]:
                                   feature.token_char_span[feature.end_position][1]]
            exact += span == example.answer_text
    assert total > 150 and exact / total > 0.97


def test_reading_data_names_the_files_by_task_unless_given(tmp_path):
    cmrc = ReadingData("cmrc2018", str(tmp_path))
    assert cmrc.path("train") == str(tmp_path / "cmrc2018_train.json")
    assert cmrc.path("dev") == str(tmp_path / "cmrc2018_dev.json")
    squad = ReadingData("squad", str(tmp_path), predict_file="other.json")
    assert (squad.path("train"), squad.path("dev")) == (str(tmp_path / "train-v1.1.json"), "other.json")
    with pytest.raises(ValueError, match="unknown --task_name 'drcd' for reading comprehension; known: cmrc2018, squad"):
        ReadingData("drcd", str(tmp_path))


def test_bad_bytes_and_wrong_shapes_name_the_line_or_json_path(tmp_path):
    from data.tasks import DataError

    path = tmp_path / "dev.json"
    path.write_bytes(b'{"data": [\n{"paragraphs": []},\n"\xff"]}')
    with pytest.raises(DataError, match=r"dev.json:3: not valid UTF-8: byte 0xff at byte 2 of the line"):
        read_examples(path, training=False)
    write_json(path, {"data": [{"paragraphs": [{"context": "北京", "qas": [{"id": 7, "question": "?"}]}]}]})
    with pytest.raises(DataError, match=r"dev.json: data\[0\].paragraphs\[0\].qas\[0\].id: expected a string, "
                                        r"found an integer"):
        read_examples(path, training=False)
    write_json(path, {"data": [{"paragraphs": ["北京"]}]})
    with pytest.raises(DataError, match=r"dev.json: data\[0\].paragraphs\[0\]: expected an object, found a string"):
        read_examples(path, training=False)
    path.write_text('{"data": [}', encoding="utf-8")
    with pytest.raises(DataError, match=r"dev.json:1: not valid JSON: Expecting value \(column 11\)"):
        read_examples(path, training=False)
