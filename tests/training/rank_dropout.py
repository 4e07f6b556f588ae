"""Run by the tests as every process of a distributed run: after the loop's start (the chief's
weights broadcast, then the per-process reseed), one training-mode forward pass of the same batch.

argv[1]: PretrainingOptions as JSON; argv[2]: a TFRecord file; argv[3]: a directory for
rank<r>.npz (the outputs, with dropout, and the weights).
"""
import json
import os
import sys

import numpy as np

from data.input.pretraining_dataset import pretraining_dataset
from training.pretraining import PretrainingOptions, PretrainingRun


def main():
    options = PretrainingOptions(**json.loads(sys.argv[1]))
    job = PretrainingRun(options)
    job.trainer.prepare(job.train_dataset)
    batch = next(iter(pretraining_dataset([sys.argv[2]], 4, options.max_seq_length, options.max_predictions_per_seq,
                                          is_training=False)))
    outputs = job.model(batch, training=True)["mlm_log_probs"].numpy()
    weights = {name: v.numpy() for name, v in job.model.tf1_variables().items()}
    np.savez(os.path.join(sys.argv[3], f"rank{job.distributed.rank}.npz"), outputs=outputs, **weights)


if __name__ == "__main__":
    main()
