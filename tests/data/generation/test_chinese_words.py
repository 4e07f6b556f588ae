"""data/generation/chinese_words.py: jieba words mark which characters continue a word."""

from data.generation.chinese_words import ContinuationToken


def test_chinese_wwm_marks_only_multi_character_words(segmenter):
    tokens = segmenter.tokenize("我爱北京天安门")  # jieba: 我 / 爱 / 北京 / 天安门
    flags = [type(t) is ContinuationToken for t in tokens]
    assert tokens == ["我", "爱", "北", "京", "天", "安", "门"]
    assert flags == [False, False, False, True, False, True, True]
