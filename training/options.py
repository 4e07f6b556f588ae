"""The typed settings every training run shares: what define_loop_flags (training/flags.py) defines,
as the library sees it. PretrainingOptions and FineTuneOptions extend it."""
import dataclasses
from typing import Optional

from training.loop import LoopSettings


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
    report_loss: bool = True

    def create_engine(self):
        """The distribution engine these options ask for; create it before any other TensorFlow op."""
        from training.distribution import create_engine
        return create_engine(self.distribution, self.hvd_fp16_allreduce, horovod=self.horovod)

    def effective_learning_rate(self, num_replicas: int) -> float:
        """--learning_rate times the number of replicas (the original's rule) unless scaling is off."""
        return self.learning_rate * (num_replicas if self.scale_learning_rate else 1)

    def loop_settings(self, num_train_steps: int, seed: Optional[int] = None) -> LoopSettings:
        return LoopSettings(output_dir=self.output_dir, num_train_steps=num_train_steps, seed=seed,
                            save_checkpoints_steps=self.save_checkpoints_steps,
                            keep_checkpoint_max=self.keep_checkpoint_max, log_every=self.log_every,
                            num_accumulation_steps=self.num_accumulation_steps, jit_compile=self.use_xla,
                            report_loss=self.report_loss)
