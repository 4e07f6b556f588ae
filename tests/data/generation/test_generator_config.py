"""data/generation/config.py: the generator's settings are checked."""

import pytest

from data.generation.config import GeneratorConfig, PretrainingDataError


def test_config_validation():
    GeneratorConfig(max_seq_length=5).validate()
    with pytest.raises(PretrainingDataError, match="max_seq_length=4 is too small"):
        GeneratorConfig(max_seq_length=4).validate()
    for prob in (0.0, -0.1, 1.01):
        with pytest.raises(PretrainingDataError, match=r"masked_lm_prob=.* must be in \(0, 1\]"):
            GeneratorConfig(masked_lm_prob=prob).validate()
    GeneratorConfig(masked_lm_prob=1.0).validate()
