"""The typed settings of a fine-tuning run. Entry scripts build them from their flags
(training.flags.options_from_flags); the library never sees absl flags."""
import dataclasses
from typing import Optional

from training.options import RunOptions


@dataclasses.dataclass(kw_only=True)
class FineTuneOptions(RunOptions):
    """The settings every fine-tuning task shares (the original's flag names); tasks extend it."""
    data_dir: str
    learning_rate: float = 3e-5  # the original's fine-tuning scripts' default (pretraining: 5e-5)
    task_name: Optional[str] = None
    seed: int = 12345  # initialisation, dropout and shuffling
    vocab_file: Optional[str] = None
    spm_model_file: Optional[str] = None
    do_lower_case: bool = True
    do_predict: bool = False
    do_train_and_eval: bool = False
    predict_batch_size: int = 8
    num_train_epochs: float = 3.0
    warmup_proportion: float = 0.1
    export_dir: Optional[str] = None
    export_hf_dir: Optional[str] = None
    # Fixed [batch, max_seq_length] shapes, the original's; by default each batch is padded to its
    # longest example (data.tasks.pipeline), which gives the same results with less compute.
    pad_to_max_seq_length: bool = False
    group_by_length: bool = False  # training batches of similar lengths (other batches, other numbers)

    @property
    def pad_to_multiple(self) -> Optional[int]:
        """What data.tasks.pipeline pads each batch to a multiple of (None: max_seq_length)."""
        from data.tasks.pipeline import PAD_MULTIPLE  # here: the pipeline imports TensorFlow
        return None if self.pad_to_max_seq_length else PAD_MULTIPLE

    def make_tokenizer(self):
        from data.tokenization import make_tokenizer
        return make_tokenizer(vocab_file=self.vocab_file, spm_model_file=self.spm_model_file,
                              do_lower_case=self.do_lower_case)
