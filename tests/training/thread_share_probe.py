"""Run by the tests in processes of their own (under horovodrun, or as TF_CONFIG workers): creates the
engine --distribution names and prints, as one JSON line, the thread pools TensorFlow then has.

argv[1]: the engine (horovod or multi_worker_mirrored).
"""
import json
import sys

import tensorflow as tf
from absl import logging

from training.distribution import create_engine


def main():
    logging.set_verbosity(logging.INFO)  # the engine's start-up line, as the scripts show it
    engine = create_engine(sys.argv[1])
    print(json.dumps({"rank": engine.rank, "local_size": engine.local_size, "cpu_threads": engine.cpu_threads,
                      "intra": tf.config.threading.get_intra_op_parallelism_threads(),
                      "inter": tf.config.threading.get_inter_op_parallelism_threads()}), flush=True)
    engine.barrier()


if __name__ == "__main__":
    main()
