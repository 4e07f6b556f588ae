"""Convert a NEZHA checkpoint to the Hugging Face transformers format, or back to the original TF1 one.

  python convert_checkpoint.py --input MODEL --output DIR --to hf|tf1
  (or, as before, python -m modeling.convert with the same flags)

MODEL is an original TF1 checkpoint (prefix or directory, with its bert_config.json beside it or
given with --config), one of our own training checkpoints (with --config), or a directory saved by
transformers (config.json + model.safetensors). --to hf writes DIR/config.json and
DIR/model.safetensors (transformers <= 4.40.2 loads them); --to tf1 writes DIR/bert_config.json and
DIR/model.ckpt.* with the original variable names. The work is modeling/checkpoints/conversion.py's;
a bad input is a one-line error and exit code 1.
"""
from absl import app, flags, logging

from fileio.atomic import WriteError
from modeling.checkpoints.conversion import FORMATS, MODEL_KINDS, ConversionError, convert
from modeling.checkpoints.errors import CheckpointError, CheckpointNotFoundError, CheckpointShapeError
from modeling.checkpoints.hf import HFCheckpointError
from modeling.config import ConfigError
from training.flags import run_main

FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "The checkpoint to convert: an original TF1 checkpoint (prefix, or a directory "
                    "with a `checkpoint` file), one of this project's training checkpoints, or a directory saved "
                    "by transformers (config.json + model.safetensors).")
flags.DEFINE_string("output", None, "The directory to write (created; must not exist or be empty unless "
                    "--overwrite).")
flags.DEFINE_enum("to", None, list(FORMATS), "Output format: `hf` (config.json + model.safetensors for "
                  "transformers' NEZHA classes) or `tf1` (bert_config.json + model.ckpt with the original names).")
flags.DEFINE_enum("model", None, list(MODEL_KINDS), "Which model the input holds. Read from the checkpoint when "
                  "its names tell; needed for a fine-tuned classifier or softmax tagger (their heads are named "
                  "alike) from a TF1 checkpoint or one of ours.")
flags.DEFINE_string("config", None, "The model's bert_config.json, for TF1 inputs and our checkpoints (default: "
                    "bert_config.json beside the checkpoint), or a transformers config.json for an HF input.")
flags.DEFINE_string("vocab_file", None, "With --to hf: a vocab.txt to copy into the output, so that "
                    "transformers' BertTokenizer loads from the same directory.")
flags.DEFINE_bool("overwrite", False, "Replace --output if it exists and is not empty.")
flags.DEFINE_bool("allow_partial", False, "Convert even when the input lacks some of the model's variables "
                  "(written with their random initial values) or holds tensors the model cannot hold (dropped). "
                  "Off: such a conversion stops with the list.")
flags.mark_flags_as_required(["input", "output", "to"])

# What a conversion reports as a one-line error: a bad or unreadable input, config or output directory.
CONVERSION_ERRORS = (CheckpointError, CheckpointNotFoundError, CheckpointShapeError, ConfigError, ConversionError,
                     HFCheckpointError, FileExistsError, FileNotFoundError, WriteError)


def convert_from_flags() -> None:
    loaded, output = convert(FLAGS.input, FLAGS.output, FLAGS.to, kind=FLAGS.model, config_path=FLAGS.config,
                             overwrite=FLAGS.overwrite, allow_partial=FLAGS.allow_partial,
                             vocab_file=FLAGS.vocab_file)
    if loaded.report is not None:
        logging.info("%s", loaded.report)
    print(f"converted a {loaded.kind} model ({loaded.source_format}) to {FLAGS.to}: {output}")


def main(argv):
    del argv
    run_main("convert_checkpoint.py", convert_from_flags, errors=CONVERSION_ERRORS)


if __name__ == "__main__":
    app.run(main)
