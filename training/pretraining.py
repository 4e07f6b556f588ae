"""NEZHA pretraining (masked LM + next sentence) on the shared loop: what run_pretraining.py runs."""
import dataclasses
import os
from dataclasses import dataclass
from typing import Dict, Optional

import tensorflow as tf
from absl import logging

from data.dynamic_masking import DynamicMasking
from data.pretraining_input import expand_input_files, pretraining_dataset
from fileio.atomic import write_text
from modeling import NezhaConfig, NezhaForPretraining, pretraining_losses, pretraining_metrics, save_tf1_checkpoint
from modeling.optimizers import create_optimizer, name_lookup

from training.checkpointing import ensure_writable_dir, restore_for_inference, start_weights
from training.loop import Trainer
from training.options import RunOptions
from training.precision import Precision

EVAL_KEYS = ("masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy", "next_sentence_loss")


@dataclass(kw_only=True)
class PretrainingOptions(RunOptions):
    """The typed settings of a pretraining run; run_pretraining.py builds them from its flags."""
    input_file: str
    max_predictions_per_seq: int = 20
    num_train_steps: int = 100000
    num_warmup_steps: int = 10000
    max_eval_steps: int = 100
    optimizer: str = "lamb"
    lamb_exclude_from_layer_adaptation: bool = False
    deterministic: bool = False
    seed: int = 12345
    relative_attention: str = "auto"
    dynamic_masking: bool = False
    masked_lm_prob: float = 0.15
    vocab_file: Optional[str] = None


def pretraining_loss(model, features, training):
    """loss_fn for the loop: total loss, with the two parts and the masked-LM accuracy as metrics.

    The accuracy is logged beside the loss because a loss that stops falling at the unigram level
    (about 6.8 for Chinese characters) is easy to miss, while an accuracy stuck at the share of the
    most frequent characters is not.
    """
    outputs = model(features, training=training)
    outputs = {name: outputs[name] for name in ("mlm_log_probs", "nsp_log_probs")}
    losses = pretraining_losses(outputs, features)
    correct, counted = pretraining_metrics(outputs, features)["masked_lm_accuracy"]
    return losses["total_loss"], {"mlm_loss": losses["mlm_loss"], "nsp_loss": losses["nsp_loss"],
                                  "masked_lm_accuracy": correct / tf.maximum(counted, 1.0)}


def pretraining_metric_fn(model, features):
    return pretraining_metrics(model(features, training=False), features)


class PretrainingRun:
    """Everything a pretraining run is made of, built from the options (shared by script and tests)."""

    def __init__(self, options: PretrainingOptions):
        self.options = options
        if not (options.do_train or options.do_eval):
            raise ValueError("at least one of --do_train or --do_eval must be true")
        self.distributed = options.create_engine()
        if options.deterministic:
            tf.keras.utils.set_random_seed(options.seed)
        if self.distributed.is_chief:
            ensure_writable_dir(options.output_dir)
        self.config = NezhaConfig.from_json_file(options.bert_config_file)
        self.input_files = expand_input_files(options.input_file)
        self.masking = DynamicMasking.from_vocab_file(options.vocab_file, options.masked_lm_prob, options.seed,
                                                      self.config.vocab_size) if options.dynamic_masking else None
        with self.distributed.scope():
            self.precision = Precision.create(options.use_fp16, options.use_bf16)
            self.precision.apply_policy()
            self.model = NezhaForPretraining(self.config, relative_attention=options.relative_attention,
                                             recompute_layers=options.recompute_layers)
            self.model.ensure_built()
            # As the original, the learning rate is multiplied by the number of replicas.
            learning_rate = options.effective_learning_rate(self.distributed.num_replicas)
            self.optimizer = create_optimizer(
                options.optimizer, learning_rate, options.num_train_steps, options.num_warmup_steps,
                name_of=name_lookup(self.model.tf1_variables(), fallback=None),
                lamb_exclude_from_layer_adaptation=options.lamb_exclude_from_layer_adaptation)
        logging.info("%s; learning rate %g", self.distributed.describe(), learning_rate)
        settings = options.loop_settings(options.num_train_steps,
                                         seed=options.seed if options.deterministic else None)
        self.trainer = Trainer(self.model, pretraining_loss, self.optimizer, settings,
                               precision=self.precision, distributed=self.distributed)
        # Our latest checkpoint wins (the trainer resumes from it); otherwise --init_checkpoint.
        start_weights(self.model, options.output_dir, options.init_checkpoint, log=self.distributed.is_chief)

    def train_dataset(self, consumed_batches: int = 0) -> tf.data.Dataset:
        o = self.options
        return pretraining_dataset(self.input_files, o.train_batch_size, o.max_seq_length, o.max_predictions_per_seq,
                                   is_training=True, num_shards=self.distributed.size,
                                   shard_index=self.distributed.rank, deterministic=o.deterministic,
                                   skip_batches=consumed_batches if o.deterministic else 0,
                                   vocab_size=self.config.vocab_size, seed=o.seed,
                                   masking=self.masking and dataclasses.replace(self.masking, stream=consumed_batches))

    def eval_dataset(self) -> tf.data.Dataset:
        o = self.options
        return pretraining_dataset(self.input_files, o.eval_batch_size, o.max_seq_length, o.max_predictions_per_seq,
                                   is_training=False, num_shards=self.distributed.size,
                                   shard_index=self.distributed.rank, vocab_size=self.config.vocab_size,
                                   masking=self.masking)

    def train(self):
        result = self.trainer.train(self.train_dataset)
        if self.distributed.is_chief:
            self.export()
        return result

    def export(self) -> str:
        """The weights in the original TF1 layout, output_dir/export/model.ckpt-<step>, and bert_config.json."""
        directory = os.path.join(self.options.output_dir, "export")
        tf.io.gfile.makedirs(directory)
        self.config.to_json_file(os.path.join(directory, "bert_config.json"))
        prefix = save_tf1_checkpoint(self.model, os.path.join(directory, f"model.ckpt-{self.trainer.step}"))
        logging.info("exported TF1 checkpoint %s", prefix)
        return prefix

    def evaluate(self) -> Dict[str, float]:
        if not self.options.do_train:
            # output_dir's latest checkpoint if any; else the initial weights loaded above
            restore_for_inference(self.model, self.options.output_dir, None, prefer_best=False, required=False)
        metrics = self.trainer.evaluate(self.eval_dataset(), pretraining_metric_fn, self.options.max_eval_steps)
        results = {key: metrics[key] for key in EVAL_KEYS}
        results["global_step"] = self.trainer.step
        if self.distributed.is_chief:
            path = os.path.join(self.options.output_dir, "eval_results.txt")
            write_text(path, "".join(f"{key} = {results[key]}\n" for key in sorted(results)))
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
