"""The pretraining record schema: feature names, dtypes and lengths of the masked and the unmasked records.

The one place the writer (data/generation/encoding.py), the readers (data/input/) and the tests
take the schema from. Pure Python (no TensorFlow), so the generator can import it.

Masked records (the original's, read by run_pretraining.py):

  input_ids, input_mask, segment_ids           int64 [max_seq_length]
  masked_lm_positions, masked_lm_ids           int64 [max_predictions_per_seq]
  masked_lm_weights                            float32 [max_predictions_per_seq]
  next_sentence_labels                         int64 [1]

Unmasked records (create_pretraining_data.py --dynamic_masking, read by run_pretraining.py
--dynamic_masking, which draws the masks):

  input_ids, input_mask, segment_ids           int64 [max_seq_length], input_ids unmasked
  word_ids                                     int64 [max_seq_length]: per position, the number
                                               (1, 2, ...) of the whole word it belongs to; 0 for
                                               [CLS], [SEP] and padding, which are never masked
  next_sentence_labels                         int64 [1]

A reader tells the two kinds apart by which features a record has.
"""

from typing import Dict, Tuple

SEQUENCE_FEATURES = ("input_ids", "input_mask", "segment_ids")
PREDICTION_FEATURES = ("masked_lm_positions", "masked_lm_ids", "masked_lm_weights")
NEXT_SENTENCE_LABELS = "next_sentence_labels"
WORD_IDS = "word_ids"

# In the order the readers check them (and report the first wrong one).
MASKED_FEATURES = SEQUENCE_FEATURES + PREDICTION_FEATURES + (NEXT_SENTENCE_LABELS,)
UNMASKED_FEATURES = SEQUENCE_FEATURES + (WORD_IDS, NEXT_SENTENCE_LABELS)
# The order in which the original's protobuf serialized the masked feature map (the bytes depend on it).
MASKED_SERIALIZATION_ORDER = ("masked_lm_ids", "input_ids", "masked_lm_positions", NEXT_SENTENCE_LABELS,
                              "input_mask", "masked_lm_weights", "segment_ids")
FLOAT_FEATURES = frozenset({"masked_lm_weights"})  # float32; every other feature is int64
ID_FEATURES = ("input_ids", "masked_lm_ids")  # vocabulary ids
MASKED_ONLY_FEATURE = "masked_lm_positions"  # present in masked records only

Lengths = Dict[str, Tuple[int, str]]


def dtype_name(feature: str) -> str:
    """"float32" or "int64": the dtype `feature` is stored with."""
    return "float32" if feature in FLOAT_FEATURES else "int64"


def masked_lengths(max_seq_length: int, max_predictions_per_seq: int) -> Lengths:
    """feature -> (length every masked record must have, what sets it: the flag a user would change)."""
    lengths = {name: (max_seq_length, "--max_seq_length") for name in SEQUENCE_FEATURES}
    lengths.update({name: (max_predictions_per_seq, "--max_predictions_per_seq") for name in PREDICTION_FEATURES})
    lengths[NEXT_SENTENCE_LABELS] = (1, "the schema")
    return lengths


def unmasked_lengths(max_seq_length: int) -> Lengths:
    """feature -> (length every unmasked record must have, what sets it), as masked_lengths."""
    return {name: (1, "the schema") if name == NEXT_SENTENCE_LABELS else (max_seq_length, "--max_seq_length")
            for name in UNMASKED_FEATURES}
