"""Run by the tests as every process of a distributed run: after the loop's start (the chief's
weights broadcast, then the per-process reseed), one training-mode forward pass of the same batch.

Before the start every process other than the chief moves its weights away from the chief's
(MultiWorkerMirroredStrategy already broadcasts initial values when it creates variables, so only
weights changed afterwards, e.g. restored from another file, need the loop's broadcast).

argv[1]: PretrainingOptions as JSON; argv[2]: a TFRecord file; argv[3]: a directory for
rank<r>.npz (the outputs, with dropout, and the weights) and start<r>.npz (the weights before the start).
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf

from data.input.pretraining_dataset import pretraining_dataset
from training.pretraining import PretrainingOptions, PretrainingRun


def main():
    options = PretrainingOptions(**json.loads(sys.argv[1]))
    job = PretrainingRun(options)
    rank = job.distributed.rank
    if rank > 0:
        with job.distributed.scope():
            for variable in job.model.variables:
                variable.assign_add(tf.ones_like(variable) * rank)
    np.savez(os.path.join(sys.argv[3], f"start{rank}.npz"),
             **{name: v.numpy() for name, v in job.model.tf1_variables().items()})
    job.trainer.prepare(job.train_dataset)
    batch = next(iter(pretraining_dataset([sys.argv[2]], 4, options.max_seq_length, options.max_predictions_per_seq,
                                          is_training=False)))
    outputs = job.model(batch, training=True)["mlm_log_probs"].numpy()
    weights = {name: v.numpy() for name, v in job.model.tf1_variables().items()}
    np.savez(os.path.join(sys.argv[3], f"rank{job.distributed.rank}.npz"), outputs=outputs, **weights)


if __name__ == "__main__":
    main()
