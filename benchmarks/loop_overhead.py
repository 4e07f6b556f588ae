"""What reading numbers back from the device after every update costs the training loop: updates/s of
Trainer.train on a tiny NEZHA on CPU with --log_every=100, fetching only on log steps against fetching
after every update as the loop did before (issue 31, item 11).

"per_update" adds, after each update, what the loop used to do then: the loss, metrics, learning
rate and loss scale as Python floats and the step from optimizer.iterations. A tiny model makes the
per-update host work a visible share of the step; on a GPU the fetch also stalls the host until the
device is done, which a CPU run cannot show (docs/performance.md). Prints one JSON line.
"""
import sys
import tempfile
import time
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import nezha_setup  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("seq", 32, "Sequence length.")
flags.DEFINE_integer("batch", 2, "Batch size.")
flags.DEFINE_integer("log_every", 100, "The loop's --log_every.")
flags.DEFINE_integer("timed_logs", 3, "Log intervals timed per mode (after one untimed interval: compilation).")
flags.DEFINE_integer("repeats", 2, "Runs per mode, alternating; the best of each is reported.")


def updates_per_second(per_update_fetch: bool) -> float:
    """Updates/s between the first and the last log step of one Trainer.train run."""
    import tensorflow as tf
    from modeling import NezhaConfig, NezhaForPretraining
    from optimization import create_optimizer, name_lookup
    from training.loop import Callback, LoopSettings, Trainer
    from training.pretraining import pretraining_loss

    class PerUpdateFetch(Trainer):
        def dispatch_update(self, batches):
            outputs = super().dispatch_update(batches)
            self.host_scalars(outputs)
            self.step  # noqa: B018 (the read is the point)
            return outputs

    class LogTimes(Callback):
        def __init__(self):
            self.times = []

        def on_log(self, step, scalars, trainer):
            self.times.append((step, time.perf_counter()))

    features = nezha_setup.synthetic_batch(FLAGS.seq, FLAGS.batch, nezha_setup.TINY_NEZHA["vocab_size"])
    model = NezhaForPretraining(NezhaConfig.from_dict(nezha_setup.TINY_NEZHA), relative_attention="per_distance")
    optimizer = create_optimizer("lamb", 1e-4, 10000, 100, name_of=name_lookup(model.tf1_variables()))
    times = LogTimes()
    steps = FLAGS.log_every * (FLAGS.timed_logs + 1)
    with tempfile.TemporaryDirectory() as output_dir:
        settings = LoopSettings(output_dir=output_dir, num_train_steps=steps, log_every=FLAGS.log_every,
                                save_checkpoints_steps=10 ** 9)
        trainer = (PerUpdateFetch if per_update_fetch else Trainer)(model, pretraining_loss, optimizer, settings,
                                                                    callbacks=[times])
        trainer.train(tf.data.Dataset.from_tensors(features).repeat())
    (first_step, first_time), (last_step, last_time) = times.times[0], times.times[-1]
    return (last_step - first_step) / (last_time - first_time)


def main(argv):
    del argv
    common.quiet_tensorflow()
    rates = {"per_update": [], "log_steps_only": []}
    for _ in range(FLAGS.repeats):
        for mode in rates:
            rates[mode].append(updates_per_second(mode == "per_update"))
    best = {mode: round(max(values), 2) for mode, values in rates.items()}
    config = {"model": "tiny nezha (2 layers, hidden 32, vocab 200)", "seq": FLAGS.seq, "batch": FLAGS.batch,
              "log_every": FLAGS.log_every, "timed_updates": FLAGS.log_every * FLAGS.timed_logs,
              "repeats": FLAGS.repeats, "device": "cpu"}
    fields = {"updates_per_s_fetch_every_update": best["per_update"],
              "updates_per_s_fetch_on_log_steps": best["log_steps_only"],
              "speedup": round(best["log_steps_only"] / best["per_update"], 3),
              "load_average": common.load_average()}
    common.emit(common.record("loop_overhead", config, fields))


if __name__ == "__main__":
    app.run(main)
