"""Every flag of the training scripts, in one module: run_pretraining.py and the three fine-tuning
scripts drive the same loop, so they take the same loop, precision and Horovod options under the
same names (the original's names where it had them); create_pretraining_data.py shares the tokenizer
flags. Here, too: typed options from parsed flags (the library never sees absl flags) and the one
way a script fails on bad input (`run_main`).

A script calls the define_* functions of what it does, then `options_from_flags(<its options
class>)` and `run_main(...)`.

Every default is the field default of the options dataclass the flag fills (`default_of`), so a
flag, its options field and --helpfull cannot disagree; flags here carry names and help only. Each
script passes its own options class, whose fields carry that script's defaults (the original's per
script: e.g. run_clf saves every 100 updates, run_reading reads 384 tokens cased).
"""
import dataclasses
import os
import sys

from absl import flags, logging

from training.finetune.options import FineTuneOptions
from training.options import FP16_ALLREDUCE_NEEDS_FP16, PretrainingOptions, RunOptions, fp16_allreduce_allowed
from training.preemption import PREEMPTED_EXIT_CODE, Preempted

FLAGS = flags.FLAGS


def default_of(options_class, name: str):
    """The default of `options_class`'s field `name`: the flag's default (None for a required field)."""
    for field in dataclasses.fields(options_class):
        if field.name == name:
            if field.default is not dataclasses.MISSING:
                return field.default
            if field.default_factory is not dataclasses.MISSING:
                return field.default_factory()
            return None
    raise KeyError(f"{options_class.__name__} has no field {name!r} to take the flag's default from")


def define_loop_flags(options_class=RunOptions) -> None:
    """Output, checkpointing, batch sizes, learning rate, logging, precision, XLA and Horovod, with the
    defaults of `options_class` (the script's options: defaults differ per script, as in the original)."""
    flags.DEFINE_string("output_dir", default_of(options_class, "output_dir"),
                        "Directory for checkpoints, logs and results. A rerun with the same directory resumes "
                        "from its latest checkpoint.")
    flags.DEFINE_string("bert_config_file", default_of(options_class, "bert_config_file"),
                        "The model's config: the original's bert_config.json or a transformers config.json (NEZHA "
                        "or BERT), told apart by content (a transformers one names its model_type).")
    flags.DEFINE_string("init_checkpoint", default_of(options_class, "init_checkpoint"),
                        "Initial weights: an original TF1 NEZHA/BERT checkpoint or one of ours (a prefix or a "
                        "directory). Ignored when output_dir already holds a checkpoint (the run resumes).")
    flags.DEFINE_integer("max_seq_length", default_of(options_class, "max_seq_length"), "Sequence length in word pieces (inputs are padded or truncated "
                         "to it; pretraining records must have exactly this length).")
    flags.DEFINE_bool("do_train", default_of(options_class, "do_train"), "Whether to train.")
    flags.DEFINE_bool("do_eval", default_of(options_class, "do_eval"), "Whether to evaluate (writes output_dir/eval_results.txt).")
    flags.DEFINE_integer("train_batch_size", default_of(options_class, "train_batch_size"), "Training batch size per process (and per micro-batch).")
    flags.DEFINE_integer("eval_batch_size", default_of(options_class, "eval_batch_size"), "Evaluation batch size.")
    flags.DEFINE_float("learning_rate", default_of(options_class, "learning_rate"),
                       "Initial learning rate, multiplied by the number of replicas (processes under "
                       "--distribution=horovod, GPUs under multi_worker_mirrored) as the original does, unless "
                       "--noscale_learning_rate. The rate used is logged at start-up.")
    flags.DEFINE_bool("scale_learning_rate", default_of(options_class, "scale_learning_rate"),
                      "Multiply --learning_rate by the number of replicas (the original's rule for Horovod: "
                      "on 64 GPUs 2e-5 becomes 1.3e-3). --noscale_learning_rate uses --learning_rate as given.")
    flags.DEFINE_integer("save_checkpoints_steps", default_of(options_class, "save_checkpoints_steps"), "Save a checkpoint every this many updates.")
    flags.DEFINE_integer("keep_checkpoint_max", default_of(options_class, "keep_checkpoint_max"), "How many recent checkpoints to keep.")
    flags.DEFINE_bool("resume_from_previous_on_error", default_of(options_class, "resume_from_previous_on_error"),
                      "When output_dir's latest checkpoint is damaged (a truncated data file, a missing index), "
                      "resume from the newest earlier checkpoint that reads back intact instead of stopping "
                      "with an error naming it (docs/faults.md).")
    flags.DEFINE_integer("log_every", default_of(options_class, "log_every"),
                         "Log step, throughput, losses, learning rate and loss scale (and write TensorBoard "
                         "scalars) every this many updates.")
    flags.DEFINE_integer("num_accumulation_steps", default_of(options_class, "num_accumulation_steps"),
                         "Micro-batches whose gradients are accumulated into one update (one allreduce per "
                         "update); equal to one step with a this-many-times larger batch.")
    flags.DEFINE_bool("use_fp16", default_of(options_class, "use_fp16"),
                      "mixed_float16 with float32 master weights and the original's dynamic loss scaling "
                      "(initial scale 2^32, doubled after 1000 finite steps, halved after 2 overflows; an "
                      "overflowing step changes nothing).")
    flags.DEFINE_bool("use_bf16", default_of(options_class, "use_bf16"), "mixed_bfloat16 with float32 master weights (no loss scaling).")
    flags.DEFINE_bool("recompute_layers", default_of(options_class, "recompute_layers"),
                      "Keep only each transformer layer's input for the backward pass and recompute the rest "
                      "there: less peak memory for about one more forward pass of compute (dropout masks are "
                      "reproduced exactly; measurements in docs/performance.md).")
    flags.DEFINE_bool("use_xla", default_of(options_class, "use_xla"),
                      "Compile the forward and backward pass of each training step (the gradient computation) "
                      "with XLA (jit_compile). The optimizer update is not part of that cluster: the optimizer "
                      "compiles each variable's update on its own either way.")
    flags.DEFINE_enum("distribution", default_of(options_class, "distribution"), ["none", "horovod", "multi_worker_mirrored"],
                      "Data parallelism (every replica takes --train_batch_size per micro-batch, gradients "
                      "averaged over replicas, the chief alone writes checkpoints, logs and exports): none (one "
                      "process, one device); horovod (processes started by horovodrun or mpirun, one per GPU); "
                      "multi_worker_mirrored (tf.distribute: one process per host using all its GPUs, the "
                      "cluster from TF_CONFIG or Slurm, none needed on one host). See the README's table.")
    flags.DEFINE_bool("horovod", default_of(options_class, "horovod"), "The original's flag: the same as --distribution=horovod.")
    flags.DEFINE_bool("hvd_fp16_allreduce", default_of(options_class, "hvd_fp16_allreduce"),
                      "With --distribution=horovod and --use_fp16: compress gradients to float16 for the "
                      "allreduce (divided by the loss scale and the micro-batch count first, so that a "
                      "gradient whose average fits float16 does not overflow).")
    flags.register_multi_flags_validator(
        ["horovod", "distribution"],
        lambda values: not values["horovod"] or values["distribution"] in ("none", "horovod"),
        message="--horovod is --distribution=horovod: it contradicts another --distribution")
    flags.register_validator("use_bf16", lambda value: not (value and flags.FLAGS.use_fp16),
                             message="--use_fp16 and --use_bf16 exclude each other")
    flags.register_multi_flags_validator(
        ["hvd_fp16_allreduce", "use_fp16"],
        lambda values: fp16_allreduce_allowed(values["hvd_fp16_allreduce"], values["use_fp16"]),
        message=FP16_ALLREDUCE_NEEDS_FP16)
    flags.mark_flags_as_required(["output_dir", "bert_config_file"])


def define_tokenizer_flags(options_class=FineTuneOptions) -> None:
    """WordPiece vocabulary or SentencePiece model, and lower-casing (one of the first two is needed),
    with the defaults of `options_class`."""
    flags.DEFINE_string("vocab_file", default_of(options_class, "vocab_file"), "The WordPiece vocabulary file the model was trained on.")
    flags.DEFINE_string("spm_model_file", default_of(options_class, "spm_model_file"), "A SentencePiece model to tokenize with instead of --vocab_file; its "
                        "pieces are the vocabulary and must include [CLS], [SEP] and [MASK].")
    flags.DEFINE_bool("do_lower_case", default_of(options_class, "do_lower_case"), "Lower-case the input (and strip accents with WordPiece). True for "
                      "uncased and Chinese models. Each script defaults to its original's: run_reading.py "
                      "reads cased (run_squad's False), the others lower-case.")
    flags.register_multi_flags_validator(["vocab_file", "spm_model_file"],
                                         lambda values: bool(values["vocab_file"] or values["spm_model_file"]),
                                         message="give --vocab_file or --spm_model_file")


def define_pretraining_flags() -> None:
    """run_pretraining.py: the loop flags plus the input records, steps and optimizer."""
    define_loop_flags(PretrainingOptions)
    flags.DEFINE_string("input_file", default_of(PretrainingOptions, "input_file"), "Input TFRecord files: comma-separated globs.")
    flags.DEFINE_integer("max_predictions_per_seq", default_of(PretrainingOptions, "max_predictions_per_seq"), "Masked-LM predictions per sequence in the records.")
    flags.DEFINE_integer("num_train_steps", default_of(PretrainingOptions, "num_train_steps"), "Number of updates.")
    flags.DEFINE_integer("num_warmup_steps", default_of(PretrainingOptions, "num_warmup_steps"), "Number of warmup updates.")
    flags.DEFINE_integer("max_eval_steps", default_of(PretrainingOptions, "max_eval_steps"), "Maximum number of evaluation batches.")
    flags.DEFINE_bool("report_loss", default_of(PretrainingOptions, "report_loss"),
                      "Show the training losses in the progress line logged every --log_every updates (the "
                      "original's flag and default, off); without it the line logs step, throughput, learning rate and loss scale "
                      "only. TensorBoard scalars are written either way.")
    flags.DEFINE_enum("optimizer", default_of(PretrainingOptions, "optimizer"), ["lamb", "adam"],
                      "lamb (the original's default, made for large global batches), or adam "
                      "(AdamWeightDecay, the original's other optimizer), the better choice at small batches "
                      "(docs/pretraining.md).")
    flags.DEFINE_bool("lamb_exclude_from_layer_adaptation", default_of(PretrainingOptions, "lamb_exclude_from_layer_adaptation"),
                      "LAMB: give LayerNorm parameters and biases (the variables excluded from weight decay) "
                      "plain Adam steps, without the layer-wise trust ratio, as the LAMB paper's reference code "
                      "and NVIDIA's do. Off (the original): the ratio applies to them too, so those that start "
                      "at zero stay near zero for long (docs/pretraining.md).")
    flags.register_multi_flags_validator(
        ["lamb_exclude_from_layer_adaptation", "optimizer"],
        lambda values: not (values["lamb_exclude_from_layer_adaptation"] and values["optimizer"] != "lamb"),
        message="--lamb_exclude_from_layer_adaptation needs --optimizer=lamb")
    flags.DEFINE_bool("deterministic", default_of(PretrainingOptions, "deterministic"),
                      "Read files and records in order, no shuffling, fixed seeds, and TensorFlow's op "
                      "determinism (tf.config.experimental.enable_op_determinism): for reproducing numbers. On "
                      "GPUs op determinism makes kernels such as the embedding gradient's segment sum, softmax "
                      "cross-entropy and cuDNN's algorithm choice deterministic (and slower); an op with no "
                      "deterministic GPU kernel stops the run with UnimplementedError instead of varying. Still "
                      "not reproducible on GPUs: XLA's autotuning (with --use_xla another compilation may pick "
                      "other GEMM kernels), other hardware, drivers, CUDA or TensorFlow versions, another number "
                      "of processes or GPUs, the allreduce over more than two processes (which gradients "
                      "Horovod fuses into one buffer depends on timing, and with it the order the ring adds "
                      "them in) and dropout after a resume.")
    flags.DEFINE_bool("skip_corrupt_records", default_of(PretrainingOptions, "skip_corrupt_records"),
                      "Step over TFRecords whose framing is damaged (a length or CRC that does not match, a "
                      "file cut short) instead of stopping with an error naming the file and byte. Every input "
                      "file is read once at start to find them (a pass over the data at disk speed); each one "
                      "skipped is logged with its file and byte, and their count. Without it the run stops at "
                      "the first corrupt record.")
    flags.DEFINE_integer("seed", default_of(PretrainingOptions, "seed"),
                         "Random seed. Always: the shuffling buffers' seeds and the dynamic masks' streams. With "
                         "--deterministic also the model's initialisation and dropout, and the records are read in "
                         "file order, so one process on CPU repeats a run's numbers and a resume continues the "
                         "record stream. Not made reproducible: without --deterministic the record order (files "
                         "are interleaved by parallel readers, one per CPU thread of the process, whichever is ready first; a "
                         "resume restarts the shuffled stream) and the initialisation; in any mode, dropout after "
                         "a resume (its random state is not checkpointed), results across another number of "
                         "processes or CPU threads (sums are split differently), and, without --deterministic, GPU "
                         "kernels (TensorFlow's op determinism is enabled by --deterministic only; see its help "
                         "for what still varies on GPUs).")
    flags.DEFINE_bool("dynamic_masking", default_of(PretrainingOptions, "dynamic_masking"),
                      "Read unmasked records (create_pretraining_data.py --dynamic_masking) and draw a new "
                      "whole-word mask every time a record is read, with the original generator's rule; with "
                      "--deterministic the masks depend only on --seed, the record and the epoch. Needs "
                      "--vocab_file.")
    flags.DEFINE_float("masked_lm_prob", default_of(PretrainingOptions, "masked_lm_prob"), "With --dynamic_masking: the share of tokens masked (at most "
                       "--max_predictions_per_seq per sequence), as create_pretraining_data.py's flag.")
    flags.DEFINE_string("vocab_file", default_of(PretrainingOptions, "vocab_file"), "With --dynamic_masking: the vocabulary the records were written with "
                        "([MASK]'s id; random replacements are drawn from all of its ids).")
    flags.mark_flags_as_required(["input_file"])


def define_finetuning_flags(options_class) -> None:
    """The original's fine-tuning flags shared by run_clf.py, run_seq_labelling.py and run_reading.py:
    the loop flags, the tokenizer flags, the task's data and modes, --export_dir and --export_hf_dir,
    with the defaults of the script's `options_class` (a FineTuneOptions)."""
    define_loop_flags(options_class)
    define_tokenizer_flags(options_class)
    flags.DEFINE_string("data_dir", default_of(options_class, "data_dir"), "The input data dir holding the task's train/dev/test files.")
    flags.DEFINE_bool("do_predict", default_of(options_class, "do_predict"), "Whether to predict on the test set.")
    flags.DEFINE_bool("do_train_and_eval", default_of(options_class, "do_train_and_eval"), "Train, evaluate on dev at every checkpoint, keep the best "
                      "checkpoint by the task's main metric, then evaluate and predict with it.")
    flags.DEFINE_integer("predict_batch_size", default_of(options_class, "predict_batch_size"), "Total batch size for predict.")
    flags.DEFINE_float("num_train_epochs", default_of(options_class, "num_train_epochs"), "Total number of training epochs to perform.")
    flags.DEFINE_float("warmup_proportion", default_of(options_class, "warmup_proportion"), "Proportion of training for linear learning-rate warmup.")
    flags.DEFINE_string("export_dir", default_of(options_class, "export_dir"), "If set, write a SavedModel with a serving signature here.")
    flags.DEFINE_string("export_hf_dir", default_of(options_class, "export_hf_dir"),
                        "If set, write the fine-tuned model here as a Hugging Face transformers checkpoint "
                        "(config.json, model.safetensors, vocab.txt) that transformers<=4.40.2 loads as "
                        "NezhaForSequenceClassification (run_clf.py), NezhaForTokenClassification "
                        "(run_seq_labelling.py without --use_crf: transformers has no CRF head) or "
                        "NezhaForQuestionAnswering (run_reading.py). Replaces an existing directory.")
    flags.DEFINE_bool("pad_to_max_seq_length", default_of(options_class, "pad_to_max_seq_length"),
                      "Pad every batch to --max_seq_length (the original's fixed shapes, e.g. for accelerators "
                      "that want static shapes). By default each batch of training, evaluation and prediction is "
                      "padded to its longest example rounded up to a multiple of 8: the same results, less "
                      "compute. Truncation follows --max_seq_length either way.")
    flags.DEFINE_bool("group_by_length", default_of(options_class, "group_by_length"),
                      "Training: batch examples of similar length together (sorted within chunks of 50 batches "
                      "of a shuffled epoch, batches then shuffled); every example is still seen once per epoch. "
                      "Changes the composition of batches, and so the exact numbers, not the expected accuracy.")
    flags.DEFINE_integer("seed", default_of(options_class, "seed"),
                         "Random seed of the run: the head's (and any unloaded variable's) initialisation, "
                         "dropout and the shuffling of the training data (each epoch's order is a function of "
                         "the seed and the epoch, so a resumed run continues it without seeing an example "
                         "twice). Same seed, same flags, same data, one process on CPU: same numbers; run "
                         "several seeds to see the spread. Not made reproducible: dropout after a resume (its "
                         "random state is not checkpointed), results with another number of processes (each "
                         "reads its own shard, dropout is seeded with seed + rank) or CPU threads (sums are "
                         "split differently), and GPU kernels (TensorFlow's op determinism is not enabled here). "
                         "There is no --deterministic here: that is run_pretraining.py's record order.")
    flags.mark_flags_as_required(["data_dir"])


def define_classification_flags() -> None:
    """run_clf.py."""
    from training.tasks.classification import ClassificationOptions  # here: the task module imports TensorFlow
    define_finetuning_flags(ClassificationOptions)
    flags.DEFINE_string("task_name", default_of(ClassificationOptions, "task_name"), "The task, which picks the file format and the labels: lcqmc, "
                        "chnsenti, text_clf, xnli, mrpc, the CLUE tasks afqmc, cmnli, ocnli, tnews, iflytek, csl, "
                        "cluewsc2020, or custom (the user's own files, read by the flags below; see "
                        "docs/finetuning.md).")
    flags.mark_flags_as_required(["task_name"])
    flags.DEFINE_enum("input_format", default_of(ClassificationOptions, "input_format"), ["tsv", "json"],
                      "--task_name=custom: train/dev/test.tsv (tab-separated) or train/dev/test.json (one JSON "
                      "object per line).")
    flags.DEFINE_string("text_a_column", default_of(ClassificationOptions, "text_a_column"),
                        "--task_name=custom: the column holding the text (a 0-based index, or a name with JSON "
                        "lines or --has_header).")
    flags.DEFINE_string("text_b_column", default_of(ClassificationOptions, "text_b_column"),
                        "--task_name=custom: the column holding the second text of a pair; unset for single texts.")
    flags.DEFINE_string("label_column", default_of(ClassificationOptions, "label_column"),
                        "--task_name=custom: the column holding the label (a test file may leave it out).")
    flags.DEFINE_bool("has_header", default_of(ClassificationOptions, "has_header"),
                      "--task_name=custom with TSV: the first line of each file names the columns.")
    flags.DEFINE_string("labels", default_of(ClassificationOptions, "labels"),
                        "--task_name=custom: the labels in id order, comma-separated (e.g. neg,pos). Unset: the "
                        "training file's labels, sorted, saved as output_dir/label_list.txt and read from there "
                        "by later runs.")


def define_tagging_flags() -> None:
    """run_seq_labelling.py."""
    from training.tasks.ner import NerOptions  # here: the task module imports TensorFlow
    define_finetuning_flags(NerOptions)
    flags.DEFINE_string("task_name", default_of(NerOptions, "task_name"), "Optional: 'ner' (the original's `char tag` files, as "
                        "its command lines give it) or 'cluener' (CLUENER2020's JSON lines); any other name is an "
                        "error.")
    flags.DEFINE_bool("use_crf", default_of(NerOptions, "use_crf"), "Decode with a linear-chain CRF (Viterbi) instead of per-token softmax.")


def define_reading_flags() -> None:
    """run_reading.py."""
    from training.tasks.reading import ReadingOptions  # here: the task module imports TensorFlow
    define_finetuning_flags(ReadingOptions)
    flags.DEFINE_string("task_name", default_of(ReadingOptions, "task_name"), "Which dataset's file names --train_file and --predict_file "
                        "default to in --data_dir: cmrc2018 (cmrc2018_train.json, cmrc2018_dev.json) or squad "
                        "(train-v1.1.json, dev-v1.1.json); any other name is an error.")
    flags.DEFINE_string("train_file", default_of(ReadingOptions, "train_file"), "SQuAD-style training JSON (default: by --task_name in --data_dir).")
    flags.DEFINE_string("predict_file", default_of(ReadingOptions, "predict_file"), "SQuAD-style JSON to evaluate / predict on "
                        "(default: by --task_name in --data_dir).")
    flags.DEFINE_integer("doc_stride", default_of(ReadingOptions, "doc_stride"), "When splitting a long context into windows, the stride between them.")
    flags.DEFINE_integer("max_query_length", default_of(ReadingOptions, "max_query_length"), "Questions longer than this many tokens are truncated.")
    flags.DEFINE_integer("n_best_size", default_of(ReadingOptions, "n_best_size"), "How many n-best predictions to consider and write.")
    flags.DEFINE_integer("max_answer_length", default_of(ReadingOptions, "max_answer_length"), "The longest answer, in word pieces, that can be predicted.")


def options_from_flags(options_class):
    """An options dataclass filled from the parsed flags of the same names (the rest keep their defaults)."""
    return options_class(**{field.name: FLAGS[field.name].value for field in dataclasses.fields(options_class)
                            if field.name in FLAGS})


def training_errors() -> tuple:
    """What a training script reports as a one-line error rather than a traceback: bad files, data,
    config, flags and checkpoints, a diverging loss, a failed Horovod set-up."""
    from fileio.atomic import WriteError
    from modeling.checkpoints import CheckpointError
    from training.distribution import DistributedError
    from training.loop import NonFiniteLossError
    return (ValueError, FileNotFoundError, CheckpointError, NonFiniteLossError, DistributedError, WriteError)


def run_main(program: str, function, *args, errors=None) -> None:
    """The one way a script fails on bad input: `<program>: error: <message>` on stderr (and in the
    log), exit code 1, no traceback. `errors` defaults to training_errors(). A run stopped by
    SIGTERM / SIGINT after saving (training/preemption.py) prints `<program>: preempted ...` and exits
    with PREEMPTED_EXIT_CODE (75). An error with `exit_without_teardown` (a lost peer) exits at once."""
    try:
        function(*args)
    except Preempted as stop:
        print(f"{program}: {stop}", file=sys.stderr)
        sys.exit(PREEMPTED_EXIT_CODE)
    except errors or training_errors() as error:
        logging.error("%s", error)
        print(f"{program}: error: {error}", file=sys.stderr)
        if getattr(error, "exit_without_teardown", False):  # a lost peer (training/distribution/base.py)
            exit_at_once(1)
        sys.exit(1)


def exit_at_once(code: int) -> None:
    """Exits with `code` after flushing the log and the standard streams, skipping the interpreter's
    teardown (atexit handlers, destructors)."""
    logging.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
