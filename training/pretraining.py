"""NEZHA pretraining (masked LM + next sentence) on the shared loop: what run_pretraining.py runs."""
import os
from dataclasses import dataclass
from typing import Dict, Optional

import tensorflow as tf
from absl import logging

from data.atomic import atomic_output
from data.pretraining_input import expand_input_files, pretraining_dataset
from modeling import (CheckpointNotFoundError, NezhaConfig, NezhaForPretraining, pretraining_losses,
                      pretraining_metrics, save_tf1_checkpoint)
from modeling.optimizers import create_optimizer, name_lookup

from .checkpointing import CheckpointError, ensure_writable_dir, load_initial_weights
from .distributed import Distributed, DistributedError
from .loop import LoopSettings, NonFiniteLossError, Trainer
from .precision import Precision

# What run_pretraining.py reports as a one-line error rather than a traceback (bad input files,
# data, config and flags are ValueErrors: InputFileError, InputDataError, ConfigError, ...).
PretrainingError = (ValueError, NonFiniteLossError, CheckpointError, CheckpointNotFoundError, DistributedError)

EVAL_KEYS = ("masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy", "next_sentence_loss")


@dataclass
class PretrainingOptions:
    input_file: str
    output_dir: str
    bert_config_file: str
    init_checkpoint: Optional[str] = None
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    do_train: bool = False
    do_eval: bool = False
    train_batch_size: int = 32
    eval_batch_size: int = 8
    learning_rate: float = 5e-5
    num_train_steps: int = 100000
    num_warmup_steps: int = 10000
    save_checkpoints_steps: int = 1000
    max_eval_steps: int = 100
    horovod: bool = False
    report_loss: bool = True
    use_fp16: bool = False
    use_bf16: bool = False
    use_xla: bool = False
    optimizer: str = "lamb"
    num_accumulation_steps: int = 1
    keep_checkpoint_max: int = 5
    deterministic: bool = False
    log_every: int = 100
    hvd_fp16_allreduce: bool = False
    seed: int = 12345
    relative_attention: str = "auto"
    recompute_layers: bool = False


def pretraining_loss(model, features, training):
    """loss_fn for the loop: total loss, with the two parts as metrics (float32 under any policy)."""
    outputs = model(features, training=training)
    outputs = {name: outputs[name] for name in ("mlm_log_probs", "nsp_log_probs")}
    losses = pretraining_losses(outputs, features)
    return losses["total_loss"], {"mlm_loss": losses["mlm_loss"], "nsp_loss": losses["nsp_loss"]}


def pretraining_metric_fn(model, features):
    return pretraining_metrics(model(features, training=False), features)


class PretrainingRun:
    """Everything a pretraining run is made of, built from the options (shared by script and tests)."""

    def __init__(self, options: PretrainingOptions):
        self.options = options
        if not (options.do_train or options.do_eval):
            raise ValueError("at least one of --do_train or --do_eval must be true")
        self.distributed = Distributed.create(options.horovod, options.hvd_fp16_allreduce)
        if options.deterministic:
            tf.keras.utils.set_random_seed(options.seed)
        if self.distributed.is_chief:
            ensure_writable_dir(options.output_dir)
        self.precision = Precision.create(options.use_fp16, options.use_bf16)
        self.precision.apply_policy()
        self.config = NezhaConfig.from_json_file(options.bert_config_file)
        self.input_files = expand_input_files(options.input_file)
        self.model = NezhaForPretraining(self.config, relative_attention=options.relative_attention,
                                         recompute_layers=options.recompute_layers)
        self.model.ensure_built()
        # Under Horovod the original multiplies the learning rate by the number of processes.
        self.optimizer = create_optimizer(options.optimizer, options.learning_rate * self.distributed.size,
                                          options.num_train_steps, options.num_warmup_steps,
                                          name_of=name_lookup(self.model.tf1_variables(), fallback=None))
        settings = LoopSettings(output_dir=options.output_dir, num_train_steps=options.num_train_steps,
                                save_checkpoints_steps=options.save_checkpoints_steps,
                                keep_checkpoint_max=options.keep_checkpoint_max, log_every=options.log_every,
                                num_accumulation_steps=options.num_accumulation_steps,
                                jit_compile=options.use_xla)
        self.trainer = Trainer(self.model, pretraining_loss, self.optimizer, settings,
                               precision=self.precision, distributed=self.distributed)
        self._load_initial_weights()

    def _load_initial_weights(self) -> None:
        """Our latest checkpoint wins (the trainer resumes from it); otherwise --init_checkpoint."""
        if tf.train.latest_checkpoint(self.options.output_dir) is not None:
            return
        if self.options.init_checkpoint:
            report = load_initial_weights(self.model, self.options.init_checkpoint)
            if report is not None and self.distributed.is_chief:
                logging.info("initial weights: %s", report)

    def train_dataset(self, consumed_batches: int = 0) -> tf.data.Dataset:
        o = self.options
        return pretraining_dataset(self.input_files, o.train_batch_size, o.max_seq_length, o.max_predictions_per_seq,
                                   is_training=True, num_shards=self.distributed.size,
                                   shard_index=self.distributed.rank, deterministic=o.deterministic,
                                   skip_batches=consumed_batches if o.deterministic else 0,
                                   vocab_size=self.config.vocab_size, seed=o.seed)

    def eval_dataset(self) -> tf.data.Dataset:
        o = self.options
        return pretraining_dataset(self.input_files, o.eval_batch_size, o.max_seq_length, o.max_predictions_per_seq,
                                   is_training=False, num_shards=self.distributed.size,
                                   shard_index=self.distributed.rank, vocab_size=self.config.vocab_size)

    def train(self):
        result = self.trainer.train(self.train_dataset)
        if self.distributed.is_chief:
            self.export()
        return result

    def export(self) -> str:
        """The weights in the original TF1 layout, output_dir/export/model.ckpt-<step>, and bert_config.json."""
        directory = os.path.join(self.options.output_dir, "export")
        tf.io.gfile.makedirs(directory)
        with atomic_output(os.path.join(directory, "bert_config.json")) as temporary:
            self.config.to_json_file(temporary)
        prefix = save_tf1_checkpoint(self.model, os.path.join(directory, f"model.ckpt-{self.trainer.step}"))
        logging.info("exported TF1 checkpoint %s", prefix)
        return prefix

    def evaluate(self) -> Dict[str, float]:
        if not self.options.do_train:
            latest = tf.train.latest_checkpoint(self.options.output_dir)
            if latest is not None:
                load_initial_weights(self.model, latest)
        metrics = self.trainer.evaluate(self.eval_dataset(), pretraining_metric_fn, self.options.max_eval_steps)
        results = {key: metrics[key] for key in EVAL_KEYS}
        results["global_step"] = self.trainer.step
        if self.distributed.is_chief:
            path = os.path.join(self.options.output_dir, "eval_results.txt")
            with atomic_output(path) as temporary, open(temporary, "w") as f:
                for key in sorted(results):
                    f.write(f"{key} = {results[key]}\n")
            logging.info("eval results in %s: %s", path, results)
        return results


def run(options: PretrainingOptions) -> Dict[str, object]:
    job = PretrainingRun(options)
    summary: Dict[str, object] = {}
    if options.do_train:
        summary["train"] = job.train()
    if options.do_eval:
        summary["eval"] = job.evaluate()
    return summary
