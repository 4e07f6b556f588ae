"""Run under horovodrun by the tests: pretraining with a different seed on every rank.

argv[1]: PretrainingOptions as JSON; argv[2]: a directory. Writes start<rank>.npz (the weights
each rank initialised, before the loop broadcasts rank 0's) and end<rank>.npz (after training).
"""
import json
import os
import sys

import numpy as np

from training.pretraining import PretrainingOptions, PretrainingRun


def weights(model):
    return {name: variable.numpy() for name, variable in model.tf1_variables().items()}


def main():
    options = PretrainingOptions(**json.loads(sys.argv[1]))
    rank = int(os.environ["HOROVOD_RANK"])
    options.seed += rank
    job = PretrainingRun(options)
    np.savez(os.path.join(sys.argv[2], f"start{rank}.npz"), **weights(job.model))
    job.train()
    np.savez(os.path.join(sys.argv[2], f"end{rank}.npz"), **weights(job.model))


if __name__ == "__main__":
    main()
