"""The whole fine-tuning run: steps from epochs, training (optionally keeping the best checkpoint),
then evaluation, prediction and export with the weights checkpointing.restore_for_inference picks."""
import tensorflow as tf
from absl import logging

from data.tasks.pipeline import make_dataset, possible_padded_lengths
from modeling.diagnostics import collapse_warning, representation_spread
from modeling.checkpoints.hf import hf_model_class, save_hf_checkpoint
from training.checkpointing import restore_for_inference
from training.finetune.callbacks import KeepBestCheckpoint, LossHistory
from training.finetune.export import export_saved_model
from training.finetune.options import FineTuneOptions
from training.finetune.task import FineTuneTask, InferenceRun, attach_run
from training.setup import RunSetup, set_up_run


def train_steps(num_examples: int, train_batch_size: int, num_train_epochs: float,
                warmup_proportion: float, num_processes: int = 1):
    """The original's rule; `train_batch_size` is what one process consumes per update (times the
    accumulation steps), and with several processes every update consumes num_processes of those."""
    num_train_steps = int(num_examples / (train_batch_size * num_processes) * num_train_epochs)
    if num_train_steps < 1:
        raise ValueError(f"{num_examples} training examples at batch size {train_batch_size} x "
                         f"{num_processes} process(es) for {num_train_epochs} epochs make no training step")
    return num_train_steps, int(num_train_steps * warmup_proportion)


def training_set_size(arrays, distributed) -> int:
    """The training features of all processes' shards: every process must make the same number of
    updates, and a shard's size (a reading task's windows) is known only to its own process."""
    total, = distributed.allreduce_sum([tf.constant(float(len(arrays["input_ids"])), tf.float64)])
    return int(round(float(total)))


def check_modes(options: FineTuneOptions) -> None:
    if not (options.do_train or options.do_eval or options.do_predict or options.do_train_and_eval):
        raise ValueError("at least one of --do_train, --do_eval, --do_predict, --do_train_and_eval must be set")


def initial_encoder_warning(model, arrays, source: str, examples: int = 32):
    """The collapse warning for the encoder as loaded, from its outputs on the first training
    examples (None when they vary as a working encoder's do)."""
    sample = {name: arrays[name][:examples] for name in ("input_ids", "input_mask", "segment_ids")}
    spread = representation_spread(model.encoder(sample, training=False), sample["input_mask"])
    return collapse_warning(spread, source=f"--init_checkpoint {source}")


def train(task: FineTuneTask, setup: RunSetup, keep_best: bool, check_initial_weights: bool):
    """Steps from the training set's size, then the loop (evaluating and keeping best/ when keep_best)."""
    options, distributed, model = setup.options, setup.distributed, setup.model
    # Each process converts (and keeps) only its shard of the training set.
    arrays = task.train_arrays(distributed.size, distributed.rank)
    num_examples = training_set_size(arrays, distributed)
    if check_initial_weights and distributed.is_chief:
        warning = initial_encoder_warning(model, arrays, options.init_checkpoint)
        if warning:
            logging.warning("%s", warning)
    setup.check_ids_fit(max_segment_id=int(arrays["segment_ids"].max(initial=0)),
                        segment_source=f"the training data in {options.data_dir}")
    # An update consumes num_accumulation_steps micro-batches on every process.
    num_train_steps, num_warmup_steps = train_steps(num_examples,
                                                    options.train_batch_size * options.num_accumulation_steps,
                                                    options.num_train_epochs, options.warmup_proportion,
                                                    distributed.num_replicas)
    logging.info("training on %d examples: %d steps, %d warmup steps", num_examples, num_train_steps,
                 num_warmup_steps)
    optimizer = setup.create_optimizer("adam", num_train_steps, num_warmup_steps)
    callbacks = [LossHistory(options.output_dir)]
    if keep_best:
        callbacks.append(KeepBestCheckpoint(task.evaluate, task.main_metric, options.output_dir))
    trainer = setup.trainer(task.loss_fn, optimizer, num_train_steps, callbacks)
    log_padding(arrays, options)
    # A function of the batches consumed: a resumed run continues the shuffled stream where it stopped.
    return trainer.train(lambda consumed: make_dataset(arrays, options.train_batch_size, training=True,
                                                       seed=options.seed, consumed_batches=consumed,
                                                       pad_to_multiple=options.pad_to_multiple,
                                                       group_by_length=options.group_by_length))


def log_padding(arrays, options: FineTuneOptions) -> None:
    """How training batches are shaped; under dynamic padding, the bound on the sequence lengths
    the compiled step meets (each one an XLA compilation under --use_xla)."""
    width = arrays["input_mask"].shape[1]
    if options.pad_to_multiple is None:
        logging.info("training batches padded to --max_seq_length %d (--pad_to_max_seq_length)", width)
        return
    lengths = possible_padded_lengths(arrays, options.pad_to_multiple)
    logging.info("dynamic padding: training batches padded to their longest example, rounded up to a multiple "
                 "of %d: at most %d distinct lengths (%s)%s", options.pad_to_multiple, len(lengths),
                 ", ".join(map(str, lengths)), ", grouped by length" if options.group_by_length else "")


def build_model(task: FineTuneTask, options: FineTuneOptions, config):
    """The task's model, after checking that the config can hold --max_seq_length positions."""
    if options.max_seq_length > config.max_position_embeddings and not config.use_relative_position:
        raise ValueError(f"--max_seq_length {options.max_seq_length} exceeds the model's max_position_embeddings "
                         f"{config.max_position_embeddings}")
    return task.build_model(config)


def run(task: FineTuneTask, options: FineTuneOptions) -> None:
    """The whole fine-tuning run for the modes asked for."""
    check_modes(options)
    # One seed for the head's initialisation, dropout and (below) the shuffling of the training data.
    setup = set_up_run(options, lambda config: build_model(task, options, config), seed=options.seed)
    distributed, model = setup.distributed, setup.model
    attach_run(model, InferenceRun(distributed.on_own_threads, lambda largest: setup.check_ids_fit(
        max_segment_id=largest, segment_source=f"the data evaluated or predicted on (--data_dir {options.data_dir})")))
    tokenizer = getattr(task, "tokenizer", None)
    if tokenizer is not None:
        setup.check_ids_fit(vocab_size=max(tokenizer.vocab.values(), default=-1) + 1,
                            vocab_source=options.spm_model_file or options.vocab_file)
    if options.export_hf_dir:
        hf_model_class(model)  # a model transformers has no class for (a CRF tagger) fails before training
    training = options.do_train or options.do_train_and_eval
    if training:
        report = setup.start_weights()
        train(task, setup, keep_best=options.do_train_and_eval, check_initial_weights=report is not None)
    # Evaluation, prediction and export are the chief's alone, outside every collective. The others
    # never read output_dir after training (the chief may still be writing the last checkpoint
    # there), and wait for the chief rather than exit: under tf.distribute a worker that exits is
    # soon reported as crashed and the chief's collectives are aborted.
    if distributed.is_chief:
        infer(task, options, model, training)
    distributed.barrier()


def infer(task: FineTuneTask, options: FineTuneOptions, model, training: bool) -> None:
    """Evaluation, prediction and exports asked for, with the weights restore_for_inference picks."""
    if not (options.do_eval or options.do_predict or options.do_train_and_eval or options.export_dir
            or options.export_hf_dir):
        return
    # Without training in this run, output_dir/best/ (an earlier --do_train_and_eval's) comes first.
    source = restore_for_inference(model, options.output_dir, None if training else options.init_checkpoint,
                                   prefer_best=options.do_train_and_eval or not training)
    logging.info("evaluating / predicting with weights from %s", source)
    if options.do_eval or options.do_train_and_eval:
        results = task.evaluate(model)
        task.write_eval_results(results, options.output_dir)
        logging.info("dev %s = %s", task.main_metric, results[task.main_metric])
    if options.do_predict or (options.do_train_and_eval and task.has_test_data()):
        task.predict(model, options.output_dir)
    if options.export_dir:
        export_saved_model(model, options.export_dir, task.serving_outputs)
    if options.export_hf_dir:
        directory = save_hf_checkpoint(model, options.export_hf_dir, labels=task.hf_labels(),
                                       vocab_file=None if options.spm_model_file else options.vocab_file,
                                       overwrite=True)
        logging.info("Hugging Face checkpoint written to %s", directory)


def run_task(task_class, options: FineTuneOptions) -> None:
    """Builds the task from its options (reading its data) and runs it."""
    run(task_class(options), options)
