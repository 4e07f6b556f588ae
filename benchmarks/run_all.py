"""The whole benchmark suite (`make bench`): every case in its own subprocess, one JSON object per line.

Cases run cheapest first under one time budget (--budget_s, 10 minutes by default): a case that
cannot finish in what is left (its --case_timeout_s or the remaining budget) is stopped and
reported as {"name", "config", "skipped" or "error": why}, so the suite always ends in time and
says what it did not measure. With --output the lines are also written to that file (to a
temporary name first, then renamed).
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_float("budget_s", 580.0, "Wall-clock budget of the whole suite in seconds.")
flags.DEFINE_float("case_timeout_s", 300.0, "Longest any single case may run, in seconds.")
flags.DEFINE_string("only", None, "Comma-separated case names (or prefixes) to run; all when unset.")
flags.DEFINE_string("output", None, "Also write the JSON lines to this file.")
flags.DEFINE_bool("quick", False, "One warm-up and one timed call per model case (a smoke test, not a measurement).")

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable


class Case(NamedTuple):
    name: str
    command: List[str]
    config: Dict[str, object]


def model_case(mode: str, seq: int, batch: int, xla: bool, quick: bool, recompute: bool = False) -> Case:
    name = f"{mode}_{seq}x{batch}" + ("_xla" if xla else "") + ("_recompute" if recompute else "")
    timing = ["--warmup=1", "--steps=1"] if quick else []
    options = ["--recompute_layers"] if recompute else []
    return Case(name, [PYTHON, str(HERE / "pretraining_throughput.py"), f"--case={mode},{seq},{batch},{int(xla)}",
                       *timing, *options], {"seq": seq, "batch": batch, "xla": xla, "recompute_layers": recompute})


def all_cases(quick: bool) -> List[Case]:
    horovodrun = str(Path(PYTHON).with_name("horovodrun"))
    cases = [Case("input_pipeline", [PYTHON, str(HERE / "input_pipeline.py")], {}),
             Case("input_pipeline_dynamic", [PYTHON, str(HERE / "input_pipeline.py"), "--dynamic_masking"], {})]
    for workers in (1, 2):
        suffix = "s" if workers > 1 else ""
        cases.append(Case(f"create_pretraining_data_{workers}_worker{suffix}",
                          [PYTHON, str(HERE / "create_pretraining_data.py"), f"--workers={workers}",
                           f"--repeat={1 if quick else 3}"], {"workers": workers}))
    # Unmasked records once (dupe 1) for --dynamic_masking, beside the static dupe 5 above.
    cases.append(Case("create_pretraining_data_dynamic_1_worker",
                      [PYTHON, str(HERE / "create_pretraining_data.py"), "--workers=1", "--dynamic_masking",
                       "--dupe_factor=1", f"--repeat={1 if quick else 3}"], {"workers": 1, "dupe_factor": 1}))
    for seq, batch in ((128, 8), (512, 2)):
        cases += [model_case("forward", seq, batch, xla, quick) for xla in (False, True)]
    cases += [model_case("train", seq, batch, False, quick) for seq, batch in ((128, 8), (512, 2))]
    cases.append(Case("loop_overhead", [PYTHON, str(HERE / "loop_overhead.py"),
                                        *(["--timed_logs=1", "--repeats=1"] if quick else [])], {}))
    # The same steps with NezhaModel(recompute_layers=True): the memory-for-compute trade.
    cases += [model_case("train", seq, batch, False, quick, recompute=True) for seq, batch in ((128, 8), (512, 2))]
    cases.append(Case("horovod_train_2proc",
                      [horovodrun, "-np", "2", "-H", "localhost:2", "--gloo", PYTHON,
                       str(HERE / "horovod_training.py"), *(["--warmup=1", "--steps=2"] if quick else [])],
                      {"processes": 2}))
    # Last: XLA's compilation of the whole training step is the slowest thing in the suite.
    cases += [model_case("train", seq, batch, True, quick) for seq, batch in ((128, 8), (512, 2))]
    return cases


def selected(cases: List[Case], only: Optional[str]) -> List[Case]:
    if not only:
        return cases
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    chosen = [c for c in cases if any(c.name.startswith(w) for w in wanted)]
    if not chosen:
        raise app.UsageError(f"--only={only} matches no case; cases: {[c.name for c in cases]}")
    return chosen


def run_case(case: Case, timeout: float) -> List[Dict[str, object]]:
    """The JSON objects the case printed, or one object saying why there are none."""
    started = time.perf_counter()
    # A session of its own, so that on timeout the whole process group (horovodrun's ranks too) is stopped.
    process = subprocess.Popen(case.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, cwd=common.REPO)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return [{"name": case.name, "config": case.config,
                 "skipped": f"stopped after {timeout:.0f} s (case or suite time budget)"}]
    results = []
    for line in stdout.splitlines():
        # horovodrun prefixes each rank's lines ("[0]<stdout>:"); the object starts at the first brace.
        brace = line.find("{")
        if brace >= 0:
            try:
                results.append(json.loads(line[brace:]))
            except json.JSONDecodeError:
                continue
    if process.returncode != 0 or not results:
        tail = [line for line in stderr.strip().splitlines() if "Traceback" not in line][-3:]
        return [{"name": case.name, "config": case.config, "error": f"exit {process.returncode}: {' | '.join(tail)}"}]
    for result in results:
        result["case_wall_s"] = round(time.perf_counter() - started, 1)
    return results


def write_lines(path: str, lines: List[str]) -> None:
    common.quiet_tensorflow()
    from fileio.atomic import atomic_output

    with atomic_output(path) as temporary, open(temporary, "w") as f:
        f.write("".join(line + "\n" for line in lines))


def main(argv):
    del argv
    for path in (common.VOCAB_FILE, common.CORPUS_FILE):
        common.require_file(path)
    deadline = time.perf_counter() + FLAGS.budget_s
    lines = []
    for case in selected(all_cases(FLAGS.quick), FLAGS.only):
        remaining = deadline - time.perf_counter()
        if remaining < 5:
            results = [{"name": case.name, "config": case.config, "skipped": "suite time budget used up"}]
        else:
            results = run_case(case, min(FLAGS.case_timeout_s, remaining))
        for result in results:
            result.setdefault("load_average_1min", common.load_average())
            line = json.dumps(result)
            lines.append(line)
            print(line, flush=True)
    if FLAGS.output:
        write_lines(FLAGS.output, lines)


if __name__ == "__main__":
    app.run(main)
