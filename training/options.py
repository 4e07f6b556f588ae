"""The typed settings of a training run as the library sees them: RunOptions (what every run shares,
define_loop_flags) and PretrainingOptions. Their field defaults are the flags' defaults (training/flags.py
reads them), so a default is written once. FineTuneOptions and each task's options extend RunOptions;
a subclass redefines a field where its script's default differs (the original's per-script defaults).

This module imports no TensorFlow, so that scripts define their flags without loading it.
"""
import dataclasses
from typing import Optional

FP16_ALLREDUCE_NEEDS_FP16 = (
    "--hvd_fp16_allreduce needs --use_fp16: the float16 cast of the gradients turns the largest into inf "
    "and the smallest into 0, and only --use_fp16's loss scaling skips such an update (in float32 or "
    "--use_bf16 it would be applied)")


def fp16_allreduce_allowed(hvd_fp16_allreduce: bool, use_fp16: bool) -> bool:
    """Whether the gradients may be sent in float16: only where an overflowing update is skipped."""
    return use_fp16 or not hvd_fp16_allreduce


@dataclasses.dataclass(kw_only=True)
class RunOptions:
    output_dir: str
    bert_config_file: str
    init_checkpoint: Optional[str] = None
    max_seq_length: int = 128
    do_train: bool = False
    do_eval: bool = False
    train_batch_size: int = 32
    eval_batch_size: int = 8
    learning_rate: float = 5e-5
    save_checkpoints_steps: int = 1000
    keep_checkpoint_max: int = 5
    resume_from_previous_on_error: bool = False
    log_every: int = 100
    num_accumulation_steps: int = 1
    use_fp16: bool = False
    use_bf16: bool = False
    recompute_layers: bool = False
    use_xla: bool = False
    distribution: str = "none"
    horovod: bool = False  # the original's flag, the same as distribution="horovod"
    hvd_fp16_allreduce: bool = False
    scale_learning_rate: bool = True
    report_loss: bool = True  # fine-tuning has no such flag; pretraining overrides it (the original's False)

    def create_engine(self):
        """The distribution engine these options ask for; create it before any other TensorFlow op."""
        if not fp16_allreduce_allowed(self.hvd_fp16_allreduce, self.use_fp16):
            raise ValueError(FP16_ALLREDUCE_NEEDS_FP16)
        from training.distribution import create_engine
        return create_engine(self.distribution, self.hvd_fp16_allreduce, horovod=self.horovod)

    def effective_learning_rate(self, num_replicas: int) -> float:
        """--learning_rate times the number of replicas (the original's rule) unless scaling is off."""
        return self.learning_rate * (num_replicas if self.scale_learning_rate else 1)

    def loop_settings(self, num_train_steps: int, seed: Optional[int] = None):
        """The loop's LoopSettings for a run of num_train_steps updates."""
        from training.loop import LoopSettings  # here, not at the top: training.loop imports TensorFlow
        return LoopSettings(output_dir=self.output_dir, num_train_steps=num_train_steps, seed=seed,
                            save_checkpoints_steps=self.save_checkpoints_steps,
                            keep_checkpoint_max=self.keep_checkpoint_max, log_every=self.log_every,
                            num_accumulation_steps=self.num_accumulation_steps, jit_compile=self.use_xla,
                            report_loss=self.report_loss,
                            resume_from_previous_on_error=self.resume_from_previous_on_error)


@dataclasses.dataclass(kw_only=True)
class PretrainingOptions(RunOptions):
    """The typed settings of a pretraining run; run_pretraining.py builds them from its flags."""
    input_file: str
    report_loss: bool = False  # the original's default: the progress line without the losses
    max_predictions_per_seq: int = 20
    num_train_steps: int = 100000
    num_warmup_steps: int = 10000
    max_eval_steps: int = 100
    optimizer: str = "lamb"
    lamb_exclude_from_layer_adaptation: bool = False
    deterministic: bool = False
    skip_corrupt_records: bool = False
    seed: int = 12345
    relative_attention: str = "auto"
    dynamic_masking: bool = False
    masked_lm_prob: float = 0.15
    vocab_file: Optional[str] = None
