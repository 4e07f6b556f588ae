"""Pretrain NEZHA (masked LM + next sentence) on TFRecords from create_pretraining_data.py.

Single process:  python run_pretraining.py --input_file=... --output_dir=... --bert_config_file=... --do_train
Horovod:         horovodrun -np 4 -H host1:2,host2:2 python run_pretraining.py --horovod ...
"""
import sys

from absl import app, flags, logging

FLAGS = flags.FLAGS

flags.DEFINE_string("input_file", None, "Input TFRecord files: comma-separated globs.")
flags.DEFINE_string("output_dir", None, "Directory for checkpoints, logs, the TF1 export and eval results.")
flags.DEFINE_string("bert_config_file", None, "The model's bert_config.json.")
flags.DEFINE_string("init_checkpoint", None,
                    "Initial weights: an original TF1 checkpoint or one of ours (prefix or directory). "
                    "Ignored when output_dir already holds a checkpoint (the run resumes from it).")
flags.DEFINE_integer("max_seq_length", 128, "Sequence length of the records.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Masked-LM predictions per sequence in the records.")
flags.DEFINE_bool("do_train", False, "Whether to train.")
flags.DEFINE_bool("do_eval", False, "Whether to evaluate (writes output_dir/eval_results.txt).")
flags.DEFINE_integer("train_batch_size", 32, "Training batch size per process (and per micro-batch).")
flags.DEFINE_integer("eval_batch_size", 8, "Evaluation batch size.")
flags.DEFINE_float("learning_rate", 5e-5, "Initial learning rate (multiplied by the number of processes under Horovod).")
flags.DEFINE_integer("num_train_steps", 100000, "Number of updates.")
flags.DEFINE_integer("num_warmup_steps", 10000, "Number of warmup updates.")
flags.DEFINE_integer("save_checkpoints_steps", 1000, "Save a checkpoint every this many updates.")
flags.DEFINE_integer("max_eval_steps", 100, "Maximum number of evaluation batches.")
flags.DEFINE_bool("horovod", False, "Data parallelism over processes started by horovodrun.")
flags.DEFINE_bool("report_loss", True, "Accepted for compatibility with the original: losses are always logged.")
flags.DEFINE_bool("use_fp16", False, "mixed_float16 with the original's dynamic loss scaling.")
flags.DEFINE_bool("use_bf16", False, "mixed_bfloat16 (no loss scaling).")
flags.DEFINE_bool("use_xla", False, "Compile the training step with XLA (jit_compile).")
flags.DEFINE_enum("optimizer", "lamb", ["lamb", "adam"], "lamb, or adam (AdamWeightDecay).")
flags.DEFINE_integer("num_accumulation_steps", 1, "Micro-batches accumulated into one update.")
flags.DEFINE_integer("keep_checkpoint_max", 5, "How many recent checkpoints to keep.")
flags.DEFINE_bool("deterministic", False,
                  "Read files and records in order, no shuffling, fixed seeds: for reproducing numbers.")
flags.DEFINE_integer("log_every", 100, "Log (and write TensorBoard scalars) every this many updates.")
flags.DEFINE_bool("hvd_fp16_allreduce", False, "Compress gradients to float16 for the Horovod allreduce.")
flags.DEFINE_integer("seed", 12345, "Random seed (model initialisation, shuffling).")


def main(argv):
    del argv
    from training.pretraining import PretrainingOptions, PretrainingError, run
    options = PretrainingOptions(**{name: FLAGS[name].value for name in PretrainingOptions.__dataclass_fields__
                                    if name in FLAGS})
    try:
        run(options)
    except PretrainingError as error:
        logging.error("%s", error)
        print(f"run_pretraining.py: error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "output_dir", "bert_config_file"])
    app.run(main)
