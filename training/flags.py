"""Flags that every training script shares: run_pretraining.py and the three fine-tuning scripts
drive the same loop, so they take the same loop, precision and Horovod options under the same
names (the original's names where it had them)."""
from absl import flags


def define_loop_flags() -> None:
    """Output, checkpointing, batch sizes, learning rate, logging, precision, XLA and Horovod."""
    flags.DEFINE_string("output_dir", None,
                        "Directory for checkpoints, logs and results. A rerun with the same directory resumes "
                        "from its latest checkpoint.")
    flags.DEFINE_string("bert_config_file", None, "The model's bert_config.json (the original's format).")
    flags.DEFINE_string("init_checkpoint", None,
                        "Initial weights: an original TF1 NEZHA/BERT checkpoint or one of ours (a prefix or a "
                        "directory). Ignored when output_dir already holds a checkpoint (the run resumes).")
    flags.DEFINE_integer("max_seq_length", 128, "Sequence length in word pieces (inputs are padded or truncated "
                         "to it; pretraining records must have exactly this length).")
    flags.DEFINE_bool("do_train", False, "Whether to train.")
    flags.DEFINE_bool("do_eval", False, "Whether to evaluate (writes output_dir/eval_results.txt).")
    flags.DEFINE_integer("train_batch_size", 32, "Training batch size per process (and per micro-batch).")
    flags.DEFINE_integer("eval_batch_size", 8, "Evaluation batch size.")
    flags.DEFINE_float("learning_rate", 5e-5,
                       "Initial learning rate (multiplied by the number of processes under --horovod, as the "
                       "original).")
    flags.DEFINE_integer("save_checkpoints_steps", 1000, "Save a checkpoint every this many updates.")
    flags.DEFINE_integer("keep_checkpoint_max", 5, "How many recent checkpoints to keep.")
    flags.DEFINE_integer("log_every", 100,
                         "Log step, throughput, losses, learning rate and loss scale (and write TensorBoard "
                         "scalars) every this many updates.")
    flags.DEFINE_integer("num_accumulation_steps", 1,
                         "Micro-batches whose gradients are accumulated into one update (one allreduce per "
                         "update); equal to one step with a this-many-times larger batch.")
    flags.DEFINE_bool("use_fp16", False,
                      "mixed_float16 with float32 master weights and the original's dynamic loss scaling "
                      "(initial scale 2^32, doubled after 1000 finite steps, halved after 2 overflows; an "
                      "overflowing step changes nothing).")
    flags.DEFINE_bool("use_bf16", False, "mixed_bfloat16 with float32 master weights (no loss scaling).")
    flags.DEFINE_bool("recompute_layers", False,
                      "Keep only each transformer layer's input for the backward pass and recompute the rest "
                      "there: about a quarter less peak memory for NEZHA-base for about one more forward pass "
                      "of compute (dropout masks are reproduced exactly).")
    flags.DEFINE_bool("use_xla", False, "Compile the gradient and update computations with XLA (jit_compile).")
    flags.DEFINE_bool("horovod", False,
                      "Data parallelism over the processes started by horovodrun: gradients averaged by "
                      "allreduce, rank 0 broadcasts the initial state and alone writes checkpoints and logs.")
    flags.DEFINE_bool("hvd_fp16_allreduce", False, "With --horovod: compress gradients to float16 for the allreduce.")
    flags.register_validator("use_bf16", lambda value: not (value and flags.FLAGS.use_fp16),
                             message="--use_fp16 and --use_bf16 exclude each other")
