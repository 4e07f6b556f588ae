"""What run_clf.py, run_seq_labelling.py and run_reading.py share beyond the training loop:
the common flags (the original's names), steps from epochs, initial weights, evaluation at every
checkpoint keeping the best one, restoring weights for evaluation / prediction, atomic result
files and the SavedModel export.

A script describes its task with a `FineTuneTask` and hands it to `run(task, FLAGS)`.
"""
import json
import os
import shutil
from typing import Callable, Dict, Optional

import numpy as np
import tensorflow as tf
from absl import flags, logging

from data.atomic import atomic_output, temporary_name
from data.tasks.pipeline import make_dataset
from modeling.config import NezhaConfig
from modeling.optimizers import create_optimizer, name_lookup

from .checkpointing import load_initial_weights
from .distributed import Distributed
from .flags import define_loop_flags
from .loop import Callback, LoopSettings, Trainer
from .precision import Precision

BEST_DIR = "best"
BEST_RESULTS = "best_eval_results.txt"
LOSS_HISTORY = "loss_history.json"
SERVING_INPUTS = ("input_ids", "input_mask", "segment_ids")


def define_common_flags():
    """The original's fine-tuning flags, the loop flags every training script shares
    (training/flags.py), and --export_dir, --spm_model_file."""
    define_loop_flags()
    flags.DEFINE_string("task_name", None, "The name of the task to train.")
    flags.DEFINE_string("data_dir", None, "The input data dir holding the task's train/dev/test files.")
    flags.DEFINE_string("vocab_file", None, "The vocabulary file the model was trained on.")
    flags.DEFINE_string("spm_model_file", None, "A SentencePiece model to tokenize with instead of --vocab_file.")
    flags.DEFINE_bool("do_lower_case", True, "Lower-case the input (true for uncased/Chinese models).")
    flags.DEFINE_bool("do_predict", False, "Whether to predict on the test set.")
    flags.DEFINE_bool("do_train_and_eval", False, "Train, evaluate on dev at every checkpoint, keep the best "
                      "checkpoint by the task's main metric, then evaluate and predict with it.")
    flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predict.")
    flags.DEFINE_float("num_train_epochs", 3.0, "Total number of training epochs to perform.")
    flags.DEFINE_float("warmup_proportion", 0.1, "Proportion of training for linear learning-rate warmup.")
    flags.DEFINE_string("export_dir", None, "If set, write a SavedModel with a serving signature here.")
    for name in ("task_name", "data_dir", "bert_config_file", "output_dir"):
        flags.mark_flag_as_required(name)


def train_steps(num_examples: int, train_batch_size: int, num_train_epochs: float,
                warmup_proportion: float, num_processes: int = 1):
    """The original's rule; `train_batch_size` is what one process consumes per update (times the
    accumulation steps), and with several processes every update consumes num_processes of those."""
    num_train_steps = int(num_examples / (train_batch_size * num_processes) * num_train_epochs)
    if num_train_steps < 1:
        raise ValueError(f"{num_examples} training examples at batch size {train_batch_size} x "
                         f"{num_processes} process(es) for {num_train_epochs} epochs make no training step")
    return num_train_steps, int(num_train_steps * warmup_proportion)


def write_text(path: str, text: str) -> None:
    with atomic_output(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(text)


def write_json(path: str, obj) -> None:
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def format_key_values(results: Dict[str, float]) -> str:
    """The original's eval_results.txt layout: `key = value` per line, in the given order."""
    return "".join(f"{key} = {value}\n" for key, value in results.items())


class FineTuneTask:
    """What a script supplies. Feature arrays are dicts of int32 NumPy arrays."""

    main_metric = "accuracy"  # the key of evaluate()'s result that --do_train_and_eval maximises
    serving_outputs = ("probabilities",)

    def build_model(self, config: NezhaConfig) -> tf.keras.Model:
        raise NotImplementedError

    def train_arrays(self) -> Dict:
        raise NotImplementedError

    def loss_fn(self, model, features, training):
        """(loss, metrics dict), as training.loop expects."""
        raise NotImplementedError

    def evaluate(self, model) -> Dict:
        """Metrics on the dev set (the main metric at top level)."""
        raise NotImplementedError

    def write_eval_results(self, results: Dict, output_dir: str) -> None:
        raise NotImplementedError

    def predict(self, model, output_dir: str) -> None:
        """Predictions on the test set, written to output_dir."""
        raise NotImplementedError

    def has_test_data(self) -> bool:
        """--do_train_and_eval predicts only when the test file is there; --do_predict requires it."""
        return True


def run_model(model, arrays: Dict, batch_size: int, output_keys) -> Dict:
    """The model's named outputs over arrays, in order, concatenated as NumPy."""
    step = tf.function(lambda features: {k: model(features, training=False)[k] for k in output_keys},
                       reduce_retracing=True)
    collected = {key: [] for key in output_keys}
    for features in make_dataset(arrays, batch_size, training=False):
        for key, value in step(features).items():
            collected[key].append(value.numpy())
    return {key: np.concatenate(values, axis=0) for key, values in collected.items()}


class KeepBestCheckpoint(Callback):
    """At every checkpoint: evaluate on dev and, when the main metric improves, copy the model's
    weights to output_dir/best (written under a temporary name, then renamed)."""

    def __init__(self, evaluate: Callable, main_metric: str, output_dir: str):
        self.evaluate = evaluate
        self.main_metric = main_metric
        self.output_dir = output_dir
        self.best_value: Optional[float] = None
        self.best_step: Optional[int] = None

    def on_checkpoint(self, step, trainer):
        results = self.evaluate(trainer.model)
        value = float(results[self.main_metric])
        logging.info("step %d: dev %s = %.6f (best so far: %s)", step, self.main_metric, value, self.best_value)
        if self.best_value is not None and value <= self.best_value:
            return
        self.best_value, self.best_step = value, step
        if trainer.is_chief:
            save_model_weights(trainer.model, os.path.join(self.output_dir, BEST_DIR))
            write_json(os.path.join(self.output_dir, BEST_RESULTS),
                       {"step": step, self.main_metric: value, "results": results})


class LossHistory(Callback):
    """Every logged training loss, written to output_dir/loss_history.json at the end."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir
        self.losses = {}

    def on_log(self, step, scalars, trainer):
        self.losses[str(step)] = scalars["total_loss"]

    def on_train_end(self, trainer):
        if trainer.is_chief:
            write_json(os.path.join(self.output_dir, LOSS_HISTORY), self.losses)


def _replace_directory(temporary: str, final: str) -> None:
    """Moves a finished directory into place, removing the previous one only afterwards."""
    old = None
    if os.path.exists(final):
        old = temporary_name(final)
        os.replace(final, old)
    os.replace(temporary, final)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def save_model_weights(model, directory: str) -> str:
    temporary = temporary_name(directory)
    tf.train.Checkpoint(model=model).write(os.path.join(temporary, "model"))
    _replace_directory(temporary, directory)
    return os.path.join(directory, "model")


def restore_for_inference(model, output_dir: str, init_checkpoint: Optional[str], prefer_best: bool) -> str:
    """Weights for evaluation / prediction: the best checkpoint (with --do_train_and_eval), else the
    latest training checkpoint in output_dir, else --init_checkpoint. Returns what was loaded."""
    best = os.path.join(output_dir, BEST_DIR, "model")
    if prefer_best and tf.io.gfile.exists(best + ".index"):
        tf.train.Checkpoint(model=model).restore(best).expect_partial()
        return best
    latest = tf.train.latest_checkpoint(output_dir)
    if latest:
        tf.train.Checkpoint(model=model).restore(latest).expect_partial()
        return latest
    if init_checkpoint:
        load_initial_weights(model, init_checkpoint)
        return init_checkpoint
    raise ValueError(f"nothing to evaluate: no checkpoint in {output_dir} and no --init_checkpoint")


def load_init_checkpoint(model, path: str):
    """Loads --init_checkpoint and logs which variables came from it. Returns the LoadReport
    (None for one of our own checkpoints, restored by object graph)."""
    report = load_initial_weights(model, path)
    if report is not None:
        encoder = set(model.encoder.tf1_variables())
        loaded = encoder & set(report.loaded)
        logging.info("init_checkpoint %s: %d of %d encoder variables loaded\n%s",
                     path, len(loaded), len(encoder), report)
    return report


def export_saved_model(model, export_dir: str, output_keys) -> None:
    """A SavedModel whose serving signature takes input_ids, input_mask, segment_ids (int32
    [batch, seq]) and returns the named outputs."""
    signature = [tf.TensorSpec([None, None], tf.int32, name=name) for name in SERVING_INPUTS]

    @tf.function(input_signature=signature)
    def serve(input_ids, input_mask, segment_ids):
        outputs = model({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids},
                        training=False)
        return {key: outputs[key] for key in output_keys}

    module = tf.Module()
    module.model = model
    module.serve = serve
    temporary = temporary_name(export_dir)
    tf.saved_model.save(module, temporary, signatures={"serving_default": serve})
    _replace_directory(temporary, export_dir)
    logging.info("SavedModel written to %s (outputs: %s)", export_dir, ", ".join(output_keys))


def make_tokenizer_from_flags(FLAGS):
    from data.tokenization import make_tokenizer
    if not FLAGS.vocab_file and not FLAGS.spm_model_file:
        raise ValueError("give --vocab_file or --spm_model_file")
    return make_tokenizer(vocab_file=FLAGS.vocab_file, spm_model_file=FLAGS.spm_model_file,
                          do_lower_case=FLAGS.do_lower_case)


def main_with_clear_errors(task_factory, FLAGS) -> None:
    """Runs the task; bad input (data, config, flags, checkpoints) ends with its message, no traceback."""
    from modeling.checkpoint import CheckpointNotFoundError, CheckpointShapeError
    from .checkpointing import CheckpointError
    try:
        run(task_factory(FLAGS), FLAGS)
    except (ValueError, FileNotFoundError, CheckpointError, CheckpointNotFoundError, CheckpointShapeError) as error:
        logging.error("%s", error)
        raise SystemExit(f"error: {error}") from None


def check_modes(FLAGS) -> None:
    if not (FLAGS.do_train or FLAGS.do_eval or FLAGS.do_predict or FLAGS.do_train_and_eval):
        raise ValueError("at least one of --do_train, --do_eval, --do_predict, --do_train_and_eval must be set")


def _train(task: FineTuneTask, model, FLAGS, distributed, precision, keep_best: bool):
    arrays = task.train_arrays()
    num_examples = len(next(iter(arrays.values())))
    # An update consumes num_accumulation_steps micro-batches on every process.
    num_train_steps, num_warmup_steps = train_steps(num_examples,
                                                    FLAGS.train_batch_size * FLAGS.num_accumulation_steps,
                                                    FLAGS.num_train_epochs, FLAGS.warmup_proportion, distributed.size)
    logging.info("training on %d examples: %d steps, %d warmup steps", num_examples, num_train_steps,
                 num_warmup_steps)
    optimizer = create_optimizer("adam", FLAGS.learning_rate * distributed.size, num_train_steps, num_warmup_steps,
                                 name_of=name_lookup(model.tf1_variables()))
    settings = LoopSettings(output_dir=FLAGS.output_dir, num_train_steps=num_train_steps,
                            save_checkpoints_steps=FLAGS.save_checkpoints_steps,
                            keep_checkpoint_max=FLAGS.keep_checkpoint_max, log_every=FLAGS.log_every,
                            num_accumulation_steps=FLAGS.num_accumulation_steps, jit_compile=FLAGS.use_xla)
    callbacks = [LossHistory(FLAGS.output_dir)]
    if keep_best:
        callbacks.append(KeepBestCheckpoint(task.evaluate, task.main_metric, FLAGS.output_dir))
    trainer = Trainer(model, task.loss_fn, optimizer, settings, precision, distributed, callbacks)
    shard = (distributed.size, distributed.rank)
    return trainer.train(make_dataset(arrays, FLAGS.train_batch_size, training=True, shard=shard))


def run(task: FineTuneTask, FLAGS) -> None:
    """The whole fine-tuning run for the modes asked for."""
    check_modes(FLAGS)
    distributed = Distributed.create(FLAGS.horovod, FLAGS.hvd_fp16_allreduce)
    precision = Precision.create(use_fp16=FLAGS.use_fp16, use_bf16=FLAGS.use_bf16)
    precision.apply_policy()
    config = NezhaConfig.from_json_file(FLAGS.bert_config_file)
    if FLAGS.max_seq_length > config.max_position_embeddings and not config.use_relative_position:
        raise ValueError(f"--max_seq_length {FLAGS.max_seq_length} exceeds the model's max_position_embeddings "
                         f"{config.max_position_embeddings}")
    tf.io.gfile.makedirs(FLAGS.output_dir)
    model = task.build_model(config)
    model.ensure_built()
    training = FLAGS.do_train or FLAGS.do_train_and_eval
    if training:
        resuming = tf.train.latest_checkpoint(FLAGS.output_dir) is not None
        if FLAGS.init_checkpoint and not resuming:
            load_init_checkpoint(model, FLAGS.init_checkpoint)
        _train(task, model, FLAGS, distributed, precision, keep_best=FLAGS.do_train_and_eval)
    if not (FLAGS.do_eval or FLAGS.do_predict or FLAGS.do_train_and_eval or FLAGS.export_dir):
        return
    source = restore_for_inference(model, FLAGS.output_dir, None if training else FLAGS.init_checkpoint,
                                   prefer_best=FLAGS.do_train_and_eval)
    logging.info("evaluating / predicting with weights from %s", source)
    if not distributed.is_chief:
        return
    if FLAGS.do_eval or FLAGS.do_train_and_eval:
        results = task.evaluate(model)
        task.write_eval_results(results, FLAGS.output_dir)
        logging.info("dev %s = %s", task.main_metric, results[task.main_metric])
    if FLAGS.do_predict or (FLAGS.do_train_and_eval and task.has_test_data()):
        task.predict(model, FLAGS.output_dir)
    if FLAGS.export_dir:
        export_saved_model(model, FLAGS.export_dir, task.serving_outputs)
