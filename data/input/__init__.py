"""What training reads: tf.data pipelines over the pretraining records (TensorFlow from here on).

Modules:
  records.py              the input files; records with their origin, parsed and checked against the schema
  pretraining_dataset.py  `pretraining_dataset`: batches of the model's features, sharded per process
  dynamic_masking.py      `DynamicMasking`: masks drawn in the pipeline from unmasked records
  corrupt_records.py      a damaged TFRecord named by file and byte (`explain`), or stepped over
                          (`CorruptRecordSkipper`, run_pretraining.py --skip_corrupt_records)
"""
