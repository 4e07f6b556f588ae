import json

import pytest

from modeling import ConfigError, NezhaConfig


def write_json(tmp_path, values, name="bert_config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(values))
    return path


BASE = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)


def test_reads_the_original_json_with_tolerated_extra_keys(tmp_path):
    values = dict(BASE, directionality="bidi", pooler_fc_size=768, pooler_type="first_token_transform")
    config = NezhaConfig.from_json_file(write_json(tmp_path, values))
    assert config.hidden_size == 32 and config.max_relative_position == 64  # the original's constant
    assert config.size_per_head == 8


def test_json_round_trip(tmp_path):
    config = NezhaConfig.from_dict(dict(BASE, use_relative_position=False, max_relative_position=16))
    path = tmp_path / "out.json"
    config.to_json_file(path)
    assert NezhaConfig.from_json_file(path) == config
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left behind


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.json.*does not exist"):
        NezhaConfig.from_json_file(tmp_path / "nope.json")


def test_invalid_json_names_file_and_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n "vocab_size": 10,\n "hidden_size": ,\n}')
    with pytest.raises(ConfigError, match=r"bad.json: line 3: invalid JSON"):
        NezhaConfig.from_json_file(path)


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_bytes(b'{\n "vocab_size": 10,\n "directionality": "bi\xffdi"\n}')
    with pytest.raises(ConfigError) as raised:
        NezhaConfig.from_json_file(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: line 3: not valid UTF-8: byte 0xff") and "\n" not in message


def test_unknown_activation(tmp_path):
    with pytest.raises(ConfigError, match="hidden_act.*swish"):
        NezhaConfig.from_json_file(write_json(tmp_path, dict(BASE, hidden_act="swish")))


def test_heads_must_divide_hidden_size(tmp_path):
    with pytest.raises(ConfigError, match=r"hidden_size \(32\) is not a multiple of num_attention_heads \(5\)"):
        NezhaConfig.from_json_file(write_json(tmp_path, dict(BASE, num_attention_heads=5)))


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"vocab_size": 0}, "vocab_size"),
        ({"hidden_size": "32"}, "hidden_size"),
        ({"hidden_dropout_prob": 1.5}, "hidden_dropout_prob"),
        ({"use_relative_position": "yes"}, "use_relative_position"),
        ({"max_relative_position": None}, "max_relative_position"),
        ({"not_a_field": 1}, "not_a_field"),
    ],
)
def test_invalid_fields_are_named(tmp_path, overrides, field):
    path = write_json(tmp_path, dict(BASE, **overrides))
    with pytest.raises(ConfigError, match=field) as error:
        NezhaConfig.from_json_file(path)
    assert str(path) in str(error.value)


def test_missing_vocab_size():
    with pytest.raises(ConfigError, match="vocab_size"):
        NezhaConfig.from_dict({"hidden_size": 32})


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)
