"""One run set-up for pretraining and fine-tuning: distribution engine, precision, model, starting weights,
optimizer and loop, assembled the same way for both, so a new engine or precision changes this module only."""
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import tensorflow as tf
from absl import logging

from compat.keras import keras
from modeling.checkpoints import CheckpointError, config_from_json_file, load_checkpoint
from modeling.checkpoints.errors import CheckpointShapeError
from modeling.config import NezhaConfig
from optimization import create_optimizer, name_lookup
from training.checkpointing import ensure_writable_dir, start_weights
from training.distribution import Engine
from training.loop import Callback, Trainer
from training.options import RunOptions
from training.precision import Precision


@dataclass
class RunSetup:
    """What every training run is built on; `set_up_run` makes it, the run adds its data and loss."""
    options: RunOptions
    distributed: Engine
    precision: Precision
    config: NezhaConfig
    model: keras.Model
    seed: Optional[int] = None  # the loop reseeds each rank with seed + rank after the broadcast

    @property
    def is_chief(self) -> bool:
        return self.distributed.is_chief

    def start_weights(self):
        """Before training: output_dir's latest checkpoint wins (the trainer resumes from it), else
        --init_checkpoint. Returns the LoadReport, or None when nothing was loaded here."""
        try:
            return start_weights(self.model, self.options.output_dir, self.options.init_checkpoint, log=self.is_chief)
        except CheckpointShapeError as error:
            if not is_word_embeddings(error.variable):
                raise
            raise CheckpointError(vocabulary_mismatch(self.options, self.config.vocab_size,
                                                      error.checkpoint_shape[0])) from None

    def create_optimizer(self, name: str, num_train_steps: int, num_warmup_steps: int, strict_names: bool = False,
                         **kwargs):
        """The original's optimizer for this model; `strict_names`: a variable without a TF1 name is an
        error (rather than decided by its Keras name) when choosing what weight decay skips."""
        name_of = name_lookup(self.model.tf1_variables(), fallback=None) if strict_names else \
            name_lookup(self.model.tf1_variables())
        # As the original, the learning rate is multiplied by the number of replicas (unless
        # --noscale_learning_rate); the rate used is logged, since it is not the one on the command line.
        learning_rate = self.options.effective_learning_rate(self.distributed.num_replicas)
        logging.info("%s; learning rate %g", self.distributed.describe(), learning_rate)
        with self.distributed.scope():
            return create_optimizer(name, learning_rate, num_train_steps, num_warmup_steps, name_of=name_of, **kwargs)

    def check_ids_fit(self, vocab_size: Optional[int] = None, vocab_source: str = "",
                      max_segment_id: Optional[int] = None, segment_source: str = "") -> None:
        """Raises one ValueError naming the numbers and files when the config's embedding tables
        cannot hold the vocabulary or the segment ids (check_ids_fit); a vocabulary too large for
        both the config and --init_checkpoint gets start_weights' CheckpointError naming all three."""
        if vocab_size is not None and vocab_size > self.config.vocab_size and self.options.init_checkpoint:
            rows = self._init_checkpoint_rows()
            if rows is not None:
                raise CheckpointError(vocabulary_mismatch(self.options, self.config.vocab_size, rows))
        check_ids_fit(self.config, self.options.bert_config_file, vocab_size, vocab_source, max_segment_id,
                      segment_source)

    def _init_checkpoint_rows(self) -> Optional[int]:
        """The word-embedding rows of --init_checkpoint, or None when they cannot be told. Learnt by
        loading it, whatever its format: only on the way to an error, so the weights it leaves in
        the model never train; the loaders check shapes before assigning anything."""
        try:
            report = load_checkpoint(self.model, self.options.init_checkpoint)
        except CheckpointShapeError as error:
            return error.checkpoint_shape[0] if is_word_embeddings(error.variable) else None
        except (CheckpointError, OSError, ValueError, tf.errors.OpError):
            return None  # unreadable: the error names the two numbers known
        loaded = report is not None and any(is_word_embeddings(name) for name in report.loaded)
        return self.config.vocab_size if loaded else None  # loaded: it has the model's rows

    def trainer(self, loss_fn, optimizer, num_train_steps: int, callbacks: Iterable[Callback] = ()) -> Trainer:
        return Trainer(self.model, loss_fn, optimizer, self.options.loop_settings(num_train_steps, seed=self.seed),
                       self.precision, self.distributed, callbacks)


def is_word_embeddings(tf1_name: Optional[str]) -> bool:
    return (tf1_name or "").endswith("embeddings/word_embeddings")


def vocabulary_mismatch(options: RunOptions, vocab_size: int, checkpoint_rows: int) -> str:
    """The one error for a vocabulary that does not fit --init_checkpoint's word embeddings, naming
    the three numbers that must agree: the config's vocab_size, the vocabulary file's tokens, the rows."""
    vocab_file = getattr(options, "vocab_file", None)
    if vocab_file:
        with open(vocab_file, encoding="utf-8", errors="replace") as handle:
            tokens = f"{sum(1 for _ in handle)} tokens in --vocab_file {vocab_file}"  # a token a line
    else:
        tokens = "no --vocab_file given"
    return (f"the vocabulary does not fit --init_checkpoint {options.init_checkpoint}: vocab_size {vocab_size} in "
            f"--bert_config_file {options.bert_config_file}, {tokens}, {checkpoint_rows} word-embedding rows in "
            f"the checkpoint (all must agree: use the config and vocabulary the checkpoint was trained with)")


def set_up_run(options: RunOptions, build_model: Callable[[NezhaConfig], keras.Model],
               seed: Optional[int] = None) -> RunSetup:
    """The engine, the global seed (when given), the precision policy, the config, output_dir and the
    model built under that policy. Starting weights, optimizer and trainer come from the RunSetup."""
    distributed = options.create_engine()  # first: it decides which devices this process sees
    if seed is not None:
        keras.utils.set_random_seed(seed)
    # Every variable (the loss scale's, the model's, later the optimizer's) is created in the engine's scope,
    # so that tf.distribute mirrors it over the replicas.
    with distributed.scope():
        precision = Precision.create(use_fp16=options.use_fp16, use_bf16=options.use_bf16)
    precision.apply_policy()
    logging.info("precision policy: %s", precision.policy)
    # The original's bert_config.json or a transformers config.json (NEZHA or BERT), by content.
    config = config_from_json_file(options.bert_config_file)
    if distributed.is_chief:
        ensure_writable_dir(options.output_dir)
    else:
        tf.io.gfile.makedirs(options.output_dir)
    with distributed.scope():
        model = build_model(config)
        model.ensure_built()
    return RunSetup(options, distributed, precision, config, model, seed)


def check_ids_fit(config: NezhaConfig, config_file: str, vocab_size: Optional[int] = None, vocab_source: str = "",
                  max_segment_id: Optional[int] = None, segment_source: str = "") -> None:
    """Checked at start-up because the model cannot check it well: on a GPU an id past the end of an
    embedding table reads a row of zeros (and under XLA the last row) instead of failing, so a
    vocabulary larger than the config's vocab_size, or sentence pairs (segment id 1) with a
    type_vocab_size of 1, would train silently wrong."""
    problems = []
    if vocab_size is not None and vocab_size > config.vocab_size:
        problems.append(f"the vocabulary {vocab_source} has {vocab_size} tokens but vocab_size is "
                        f"{config.vocab_size}")
    if max_segment_id is not None and max_segment_id >= config.type_vocab_size:
        problems.append(f"{segment_source} has segment id {max_segment_id} but type_vocab_size is "
                        f"{config.type_vocab_size} (sentence pairs need at least 2)")
    if problems:
        raise ValueError(f"the model config {config_file} is too small for the data: {'; '.join(problems)}. "
                         f"Use the config the vocabulary and the checkpoint belong to.")
