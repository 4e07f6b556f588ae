"""LoadReport: what a load took from a checkpoint and what it left, the same for every format."""
from __future__ import annotations

import dataclasses

from absl import logging

# Variables that a pretrained checkpoint is expected to supply (fine-tuning heads are not).
ENCODER_SCOPE = "bert/"
PRETRAINED_SCOPES = (ENCODER_SCOPE, "cls/predictions/", "cls/seq_relationship/")


@dataclasses.dataclass
class LoadReport:
    path: str
    loaded: list
    missing_in_checkpoint: list
    unused_in_checkpoint: list
    ignored_optimizer_state: list
    format: str = ""  # which reader was chosen (formats.py's FORMATS name), set by load_checkpoint
    # Model variables no output reads (a tagger's pooler): missing in the checkpoint is no mismatch.
    unread_by_model: list = dataclasses.field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"checkpoint {self.path}{f' (read as {self.format})' if self.format else ''}: "
            f"loaded {len(self.loaded)} variables, "
            f"{len(self.missing_in_checkpoint)} model variables not in the checkpoint, "
            f"{len(self.unused_in_checkpoint)} checkpoint variables unused, "
            f"{len(self.ignored_optimizer_state)} optimizer variables ignored"
        ]
        for title, names in (
            ("not in the checkpoint (left as initialised)", self.missing_in_checkpoint),
            ("in the checkpoint but not in the model", self.unused_in_checkpoint),
        ):
            if names:
                lines.append(f"  {title}:")
                lines.extend(f"    {name}" for name in names)
        return "\n".join(lines)

    def check_strict(self) -> None:
        """A strict load: ValueError when variables are missing on either side."""
        if self.missing_in_checkpoint or self.unused_in_checkpoint:
            raise ValueError(f"strict loading failed:\n{self}")

    def log_warning(self) -> None:
        """Every loader calls this, so that a mismatch is heard whatever the checkpoint's format."""
        warning = self.warning()
        if warning:
            logging.warning("%s", warning)

    def warning(self) -> str | None:
        """What a user must hear about even in a non-strict load, or None.

        A fine-tuning head that is new, or pretraining heads that a fine-tuning model does not
        have, are expected; an encoder or pretraining-head variable left as initialised, or an
        encoder variable of the checkpoint that the model cannot hold (Google BERT's position
        embeddings read into a relative-position model), mean a different model from the one saved.
        """
        unloaded = [name for name in self.missing_in_checkpoint
                    if name.startswith(PRETRAINED_SCOPES) and name not in self.unread_by_model]
        unused = [name for name in self.unused_in_checkpoint if name.startswith(ENCODER_SCOPE)]
        if not unloaded and not unused:
            return None
        lines = [f"checkpoint {self.path} does not match the model; its outputs will differ from the saved model's"]
        if unloaded:
            lines.append("  model variables left as initialised (not in the checkpoint): " + ", ".join(unloaded))
        if unused:
            lines.append("  checkpoint variables the model has no place for: " + ", ".join(unused))
        if any(name.endswith("position_embeddings") for name in unused + unloaded):
            lines.append("  position embeddings differ: check use_relative_position in the model config "
                         "(absent means false, as in the original and Google's BERT configs)")
        return "\n".join(lines)
