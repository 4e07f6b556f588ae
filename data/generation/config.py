"""The generator's settings (`GeneratorConfig`, the original's flags) and the error it reports bad input with."""

import dataclasses

MIN_MAX_SEQ_LENGTH = 5  # [CLS] A [SEP] B [SEP] with one token in each of A and B


class PretrainingDataError(ValueError):
    """Bad input or flags for the generator; the message is meant for the user as is."""


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    dupe_factor: int = 10
    do_whole_word_mask: bool = False
    chinese_wwm: bool = False
    dynamic_masking: bool = False  # no masks: written for masking at training time (data/generation/encoding.py)

    def validate(self):
        if self.max_seq_length < MIN_MAX_SEQ_LENGTH:
            raise PretrainingDataError(
                f"max_seq_length={self.max_seq_length} is too small: [CLS] A [SEP] B [SEP] needs at least "
                f"{MIN_MAX_SEQ_LENGTH}")
        if self.max_predictions_per_seq < 1:
            raise PretrainingDataError(f"max_predictions_per_seq={self.max_predictions_per_seq} must be >= 1")
        if not 0.0 < self.masked_lm_prob <= 1.0:
            raise PretrainingDataError(f"masked_lm_prob={self.masked_lm_prob} must be in (0, 1]")
        if not 0.0 <= self.short_seq_prob <= 1.0:
            raise PretrainingDataError(f"short_seq_prob={self.short_seq_prob} must be in [0, 1]")
        if self.dupe_factor < 1:
            raise PretrainingDataError(f"dupe_factor={self.dupe_factor} must be >= 1")
        return self
