"""Where a step's time goes, by TensorFlow op type, from a tf.profiler trace (TF2 functions and TF1
sessions alike): `profile_steps` traces a few calls of a step and returns the time per op type.

The trace's host plane has one line per executor thread; each op kernel is an event named
"op_name:OpType" (its display name is the type). Times are summed by type over all threads, so with
ops running in parallel the total can exceed the wall time; shares are of the summed op time.
Function-call ops (which contain other ops) are left out so that nothing is counted twice.
"""
import collections
import glob
import os
import tempfile
from typing import Callable, Dict, List

# Ops that only wrap the kernels of a function body, traced around them.
_CONTAINERS = {"PartitionedCall", "StatefulPartitionedCall", "While", "If", "StatelessIf", "StatelessWhile"}
# The matrix products (oneDNN's fused forms included).
MATMUL_TYPES = {"MatMul", "_MklMatMul", "_MklFusedMatMul", "_FusedMatMul", "BatchMatMul", "BatchMatMulV2",
                "BatchMatMulV3", "_MklBatchMatMul", "_MklBatchMatMulV2", "_MklFusedBatchMatMulV2", "Einsum",
                "_MklEinsum", "_MklNativeFusedMatMul", "_MklNativeMatMul", "_MklNativeBatchMatMulV2"}


def op_seconds_by_type(trace_dir: str) -> Dict[str, float]:
    """Seconds per op type in the traces under `trace_dir` (every .xplane.pb in it)."""
    # tsl is its home on every supported TensorFlow (tensorflow.core.profiler.protobuf is gone from 2.21)
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    seconds = collections.Counter()
    for path in glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True):
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
        for plane in space.planes:
            if not plane.name.startswith("/host:"):
                continue
            for line in plane.lines:
                for event in line.events:
                    metadata = plane.event_metadata[event.metadata_id]
                    op_type = metadata.display_name
                    if ":" not in metadata.name or not op_type or op_type in _CONTAINERS:
                        continue
                    seconds[op_type] += event.duration_ps * 1e-12
    return dict(seconds)


def profile_steps(step: Callable[[], object], steps: int = 2) -> Dict[str, float]:
    """Seconds per op type per call of `step`, over `steps` traced calls (run after its warm-up)."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as trace_dir:
        tf.profiler.experimental.start(trace_dir)
        try:
            for _ in range(steps):
                step()
        finally:
            tf.profiler.experimental.stop()
        totals = op_seconds_by_type(trace_dir)
    return {op_type: value / steps for op_type, value in totals.items()}


def summarize(per_type: Dict[str, float], top: int = 12) -> Dict[str, object]:
    """The matmul share and the `top` op types with their ms per step and share of the summed op time."""
    total = sum(per_type.values()) or 1.0
    ranked: List = sorted(per_type.items(), key=lambda item: -item[1])
    matmul = sum(value for op_type, value in per_type.items() if op_type in MATMUL_TYPES)
    return {"op_ms_per_step": round(1e3 * total, 1), "matmul_op_share": round(matmul / total, 3),
            "top_ops": [[op_type, round(1e3 * value, 1), round(value / total, 3)] for op_type, value in ranked[:top]],
            "other_share": round(sum(value for _, value in ranked[top:]) / total, 3)}
