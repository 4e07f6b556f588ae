"""NEZHA pretraining (masked LM + next sentence) on the shared loop: what run_pretraining.py runs."""
import dataclasses
import os
from typing import Dict

import tensorflow as tf
from absl import logging

from data.input.corrupt_records import CorruptRecordSkipper, explain
from data.input.dynamic_masking import DynamicMasking
from data.input.pretraining_dataset import pretraining_dataset
from data.input.records import expand_input_files
from data.tokenization import load_vocab
from fileio.atomic import write_text
from modeling import NezhaForPretraining, pretraining_losses, pretraining_metrics, save_tf1_model
from training.checkpointing import restore_for_inference
from training.loop import InputDataError
from training.options import PretrainingOptions
from training.plateau import PlateauGuard
from training.setup import set_up_run

EVAL_KEYS = ("masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy", "next_sentence_loss")


def pretraining_loss(model, features, training):
    """loss_fn for the loop: total loss, with the two parts and the masked-LM accuracy as metrics
    (the accuracy shows a run stuck at the unigram plateau, docs/pretraining.md)."""
    outputs = model(features, training=training)
    outputs = {name: outputs[name] for name in ("mlm_log_probs", "nsp_log_probs")}
    losses = pretraining_losses(outputs, features)
    correct, counted = pretraining_metrics(outputs, features)["masked_lm_accuracy"]
    return losses["total_loss"], {"mlm_loss": losses["mlm_loss"], "nsp_loss": losses["nsp_loss"],
                                  "masked_lm_accuracy": correct / tf.maximum(counted, 1.0)}


def pretraining_metric_fn(model, features):
    """metric_fn for Trainer.evaluate: the (numerator, denominator) pairs of the pretraining metrics."""
    return pretraining_metrics(model(features, training=False), features)


class PretrainingRun:
    """Everything a pretraining run is made of, built from the options (shared by script and tests)."""

    def __init__(self, options: PretrainingOptions):
        self.options = options
        if not (options.do_train or options.do_eval):
            raise ValueError("at least one of --do_train or --do_eval must be true")
        if options.deterministic:
            # Before any op runs: kernels then pick deterministic algorithms, and an op that has none on
            # this device raises (UnimplementedError) rather than silently varying (--deterministic's help).
            tf.config.experimental.enable_op_determinism()
        self.setup = set_up_run(options, self.build_model, seed=options.seed if options.deterministic else None)
        self.distributed = self.setup.distributed
        self.precision = self.setup.precision
        self.config = self.setup.config
        self.model = self.setup.model
        if options.vocab_file:
            # ids are line numbers: the largest + 1 is the table size it needs
            self.setup.check_ids_fit(vocab_size=max(load_vocab(options.vocab_file).values(), default=-1) + 1,
                                     vocab_source=options.vocab_file)
        self.input_files = expand_input_files(options.input_file)
        self.skipper = CorruptRecordSkipper.scan(self.input_files) if options.skip_corrupt_records else None
        self.masking = DynamicMasking.from_vocab_file(options.vocab_file, options.masked_lm_prob, options.seed,
                                                      self.config.vocab_size) if options.dynamic_masking else None
        self.optimizer = self.setup.create_optimizer(
            options.optimizer, options.num_train_steps, options.num_warmup_steps, strict_names=True,
            lamb_exclude_from_layer_adaptation=options.lamb_exclude_from_layer_adaptation)
        # Warns once, on a log step, when the run sits at the unigram plateau past warmup.
        self.trainer = self.setup.trainer(pretraining_loss, self.optimizer, options.num_train_steps,
                                          callbacks=[PlateauGuard(options.num_warmup_steps)])
        self.setup.start_weights()

    def build_model(self, config):
        return NezhaForPretraining(config, relative_attention=self.options.relative_attention,
                                   recompute_layers=self.options.recompute_layers)

    def train_dataset(self, consumed_batches: int = 0) -> tf.data.Dataset:
        o = self.options
        return pretraining_dataset(self.input_files, o.train_batch_size, o.max_seq_length, o.max_predictions_per_seq,
                                   is_training=True, num_shards=self.distributed.size,
                                   shard_index=self.distributed.rank, deterministic=o.deterministic,
                                   skip_batches=consumed_batches if o.deterministic else 0,
                                   vocab_size=self.config.vocab_size, type_vocab_size=self.config.type_vocab_size,
                                   seed=o.seed,
                                   num_cpu_threads=self.distributed.cpu_threads,  # parallel readers
                                   masking=self.masking and dataclasses.replace(self.masking, stream=consumed_batches),
                                   skipper=self.skipper)

    def eval_dataset(self) -> tf.data.Dataset:
        o = self.options
        dataset = pretraining_dataset(self.input_files, o.eval_batch_size, o.max_seq_length, o.max_predictions_per_seq,
                                      is_training=False, num_shards=self.distributed.size,
                                      shard_index=self.distributed.rank, vocab_size=self.config.vocab_size,
                                      type_vocab_size=self.config.type_vocab_size, masking=self.masking,
                                      skipper=self.skipper)
        return self.distributed.on_own_threads(dataset)

    def _naming_corrupt_records(self, action):
        """Runs `action`, turning TensorFlow's "corrupted record at N" into the file and byte."""
        try:
            return action()
        except InputDataError as error:
            explained = explain(str(error), self.input_files)
            if explained is None:
                raise
            raise InputDataError(explained) from None

    def train(self):
        result = self._naming_corrupt_records(lambda: self.trainer.train(self.train_dataset))
        if self.distributed.is_chief:
            self.export()
        return result

    def export(self) -> str:
        """The weights in the original TF1 layout, output_dir/export/model.ckpt-<step>, and bert_config.json."""
        name = f"model.ckpt-{self.trainer.step}"
        directory = save_tf1_model(self.model, os.path.join(self.options.output_dir, "export"), name, overwrite=True)
        prefix = os.path.join(directory, name)
        logging.info("exported TF1 checkpoint %s", prefix)
        return prefix

    def evaluate(self) -> Dict[str, float]:
        if not self.options.do_train:
            # output_dir's latest checkpoint if any; else the initial weights loaded above
            restore_for_inference(self.model, self.options.output_dir, None, prefer_best=False, required=False)
        metrics = self._naming_corrupt_records(
            lambda: self.trainer.evaluate(self.eval_dataset(), pretraining_metric_fn, self.options.max_eval_steps))
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
