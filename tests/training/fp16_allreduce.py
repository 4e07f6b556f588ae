"""Run under horovodrun (2 processes) by the tests: the loop's update with and without
--hvd_fp16_allreduce under the dynamic loss scale of --use_fp16 (initial scale 2^32).

Two cases, each trained once uncompressed and once compressed: the toy model (float32 compute,
so its gradients are what float32-path variables give under fp16) for 2 updates of 2 micro-batches,
and one weight whose gradient is 40000 on every micro-batch of every rank (fits float16 once
averaged, while its sum over 2 micro-batches or 2 ranks would not).
argv[1]: a directory for rank<r>.npz.
"""
import os
import sys

import numpy as np
import tensorflow as tf

from compat.keras import keras
from optimization import create_optimizer, name_lookup
from tests.training.toy import make_toy_model, toy_dataset, toy_loss
from training.distribution.horovod import HorovodEngine
from training.loop import LoopSettings, Trainer
from training.precision import DynamicLossScale, Precision

LARGE_GRADIENT = 40000.0


class OneWeight(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.w = self.add_weight(name="w", shape=[4], initializer="zeros")

    def tf1_variables(self):
        return {"one/w": self.w}


def large_gradient_loss(model, features, training):
    loss = tf.reduce_sum(model.w * features["c"])  # d loss / d w = c
    return loss, {"loss": loss}


def large_gradient_dataset():
    return tf.data.Dataset.from_tensors({"c": tf.fill([4], LARGE_GRADIENT)}).repeat()


def train(model, loss_fn, data, compress, output_dir, steps):
    optimizer = create_optimizer("adam", 1e-2, 100, 1, name_of=name_lookup(model.tf1_variables()))
    settings = LoopSettings(output_dir, steps, save_checkpoints_steps=steps, log_every=1, num_accumulation_steps=2,
                            clip_norm=1e9)  # no clipping: the slots show the gradients' size
    trainer = Trainer(model, loss_fn, optimizer, settings, precision=Precision("float32", DynamicLossScale()),
                      distributed=HorovodEngine(fp16_allreduce=compress))
    # A fixed number of updates rather than train(), which would retry a skipped one forever here.
    batches = iter(trainer.prepare(data))
    for _ in range(steps):
        trainer.run_update([next(batches) for _ in range(settings.num_accumulation_steps)])
    return {"weights": [v.numpy() for v in model.trainable_variables],
            "slots": [v.numpy() for v in optimizer.slot_variables()],
            "step": trainer.step, "scale": trainer.precision.current_scale()}


def main():
    directory = sys.argv[1]
    results = {}
    for compress in (False, True):
        mode = "compressed" if compress else "plain"
        rank = HorovodEngine().rank
        toy = train(make_toy_model(), toy_loss, toy_dataset(64, 2, seed=rank), compress,
                    os.path.join(directory, f"toy_{mode}_{rank}"), steps=2)
        large = train(OneWeight(), large_gradient_loss, large_gradient_dataset(), compress,
                      os.path.join(directory, f"large_{mode}_{rank}"), steps=1)
        for case, result in (("toy", toy), ("large", large)):
            for key, value in result.items():
                if isinstance(value, list):
                    for i, array in enumerate(value):
                        results[f"{case}/{mode}/{key}/{i}"] = array
                else:
                    results[f"{case}/{mode}/{key}"] = np.asarray(value)
    np.savez(os.path.join(directory, f"rank{rank}.npz"), **results)


if __name__ == "__main__":
    main()
