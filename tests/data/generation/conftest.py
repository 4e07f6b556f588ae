"""Fixtures of the generator's tests."""

import pytest

from data.generation.chinese_words import ChineseWordSegmenter
from data.tokenization import FullTokenizer


@pytest.fixture(scope="module")
def segmenter(vocab_file):
    if not vocab_file.is_file():
        pytest.skip(f"{vocab_file} is absent")
    return ChineseWordSegmenter(FullTokenizer(str(vocab_file)))

