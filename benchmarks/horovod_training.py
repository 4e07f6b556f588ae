"""2-process Horovod training on localhost: sequences/s and what the gradient allreduce costs per step.

Started by run_all.py as `horovodrun -np 2 -H localhost:2 --gloo python benchmarks/horovod_training.py`;
rank 0 prints one JSON line. A small NEZHA (4 layers, hidden 256: see SMALL_NEZHA) keeps the case
within the suite's time budget on 2 cores; the allreduce cost is measured three ways:
- allreduce alone: the training loop's own gradient allreduce (HorovodEngine.allreduce_gradients) of
  tensors shaped like every gradient, in fp32 and with Horovod's fp16 compression;
- the step with Horovod against the same step with the single-process stand-in (no allreduce),
  both processes running at once in both cases so that they compete for the cores alike.
"""
import sys
import tempfile
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import nezha_setup  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("seq", 128, "Sequence length.")
flags.DEFINE_integer("batch", 8, "Batch size per process.")
flags.DEFINE_integer("warmup", 2, "Untimed calls per measurement.")
flags.DEFINE_integer("steps", 5, "Timed calls per measurement (median reported).")

SMALL_NEZHA = dict(nezha_setup.NEZHA_BASE, hidden_size=256, num_hidden_layers=4,
                   num_attention_heads=4, intermediate_size=1024)


def median(seconds):
    return common.timing_fields(seconds, 1, "calls_per_s")["seconds_per_call_median"]


def main(argv):
    del argv
    common.quiet_tensorflow()
    import tensorflow as tf
    from training.distribution import create_engine

    horovod = create_engine("horovod")
    compressed = create_engine("horovod", fp16_allreduce=True)
    features = nezha_setup.synthetic_batch(FLAGS.seq, FLAGS.batch, SMALL_NEZHA["vocab_size"])
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = nezha_setup.make_trainer(SMALL_NEZHA, features, False, output_dir, "per_distance",
                                                      distributed=horovod)
        step = common.time_calls(lambda: trainer.run_update([features]), FLAGS.warmup, FLAGS.steps)
        gradients = [tf.ones(v.shape, tf.float32) for v in trainer._variables]
        allreduce_bytes = sum(int(g.shape.num_elements()) * 4 for g in gradients)

        def allreduce_with(distributed):
            reduce = tf.function(distributed.allreduce_gradients)
            return common.time_calls(lambda: [t.numpy() for t in reduce(gradients)][-1], FLAGS.warmup, FLAGS.steps)

        alone_fp32 = allreduce_with(horovod)
        alone_fp16 = allreduce_with(compressed)
        horovod.barrier()
    with tempfile.TemporaryDirectory() as output_dir:
        local = nezha_setup.make_trainer(SMALL_NEZHA, features, False, output_dir, "per_distance",
                                                    distributed=create_engine())
        no_allreduce = common.time_calls(lambda: local.run_update([features]), FLAGS.warmup, FLAGS.steps)
    horovod.barrier()
    rss_sum = float(horovod.allreduce_sum([tf.constant(common.peak_rss_mb())])[0].numpy())
    gflops = common.matmul_gflops() if horovod.is_chief else None
    horovod.barrier()  # rank 1 waits while rank 0 measures the machine alone
    if not horovod.is_chief:
        return
    config = {"model": "small nezha (4 layers, hidden 256, 4 heads, intermediate 1024, vocab 21128) to fit "
                       "the time budget", "processes": horovod.size, "seq": FLAGS.seq,
              "batch_per_process": FLAGS.batch, "launcher": "horovodrun -np 2 -H localhost:2 --gloo",
              "gradient_tensors": len(gradients)}
    fields = common.timing_fields(step, FLAGS.batch * horovod.size, "sequences_per_s")
    fields.update({
        "allreduce_bytes_fp32": allreduce_bytes,
        "allreduce_alone_s_fp32": median(alone_fp32),
        "allreduce_alone_s_fp16": median(alone_fp16),
        "step_s_without_allreduce": median(no_allreduce),
        "allreduce_share_of_step": round(median(alone_fp32) / median(step), 3),
        "peak_rss_mb_all_processes": round(rss_sum, 1),
    })
    common.emit(common.record("horovod_train_2proc", config, fields, gflops=gflops))


if __name__ == "__main__":
    app.run(main)
