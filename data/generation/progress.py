"""Progress and summary: throttled progress lines on stderr while the generator runs, and its closing summary."""

import sys
import time


class Progress:
    """Throttled progress lines on stderr for one process: reading, making instances, writing."""

    def __init__(self, label, total_bytes, interval=2.0, stream=None, enabled=True):
        self.label = label
        self.total_bytes = total_bytes
        self.interval = interval
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.start = time.monotonic()
        self._last = self.start
        self.bytes_read = 0
        self.documents_done = 0
        self.documents_total = 0
        self.instances = 0
        self._phase_start = self.start

    def _due(self):
        now = time.monotonic()
        if not self.enabled or now - self._last < self.interval:
            return None
        self._last = now
        return now

    def say(self, message):
        if self.enabled:
            # One write per line: print() writes the text and the newline separately, and on the
            # shared stderr of several workers another line could land in between.
            self.stream.write(f"[{self.label}] {message}\n")
            self.stream.flush()

    def on_bytes(self, count):
        self.bytes_read += count
        now = self._due()
        if now is None:
            return
        rate = self.bytes_read / max(now - self._phase_start, 1e-9)
        eta = (self.total_bytes - self.bytes_read) / rate if rate > 0 else float("nan")
        self.say(f"reading: {self.bytes_read / 1e6:.1f} of {self.total_bytes / 1e6:.1f} MB, "
                 f"{rate / 1e6:.2f} MB/s, ETA {eta:.0f}s")

    def start_instances(self, num_documents, rounds):
        self.documents_total = num_documents * rounds
        self._phase_start = time.monotonic()
        self.say(f"read {self.bytes_read / 1e6:.1f} MB in {self._phase_start - self.start:.1f}s; "
                 f"making instances from {num_documents} documents x {rounds} rounds")

    def on_document(self, instances_made):
        self.documents_done += 1
        self.instances += instances_made
        now = self._due()
        if now is None:
            return
        elapsed = max(now - self._phase_start, 1e-9)
        docs_rate = self.documents_done / elapsed
        eta = (self.documents_total - self.documents_done) / docs_rate if docs_rate > 0 else float("nan")
        self.say(f"instances: {self.instances} ({self.instances / elapsed:.0f}/s), documents "
                 f"{self.documents_done}/{self.documents_total} ({docs_rate:.0f}/s), ETA {eta:.0f}s")

    def start_writing(self, instances, spooled_bytes, files):
        self.say(f"made {instances} instances in {time.monotonic() - self._phase_start:.1f}s; writing them "
                 f"shuffled ({spooled_bytes / 1e6:.1f} MB) to {files} file(s)")


    def group_done(self, groups_done, groups_total, group_bytes, instances_made):
        """One more group finished (grouped mode): groups, instances and text rate so far."""
        self.bytes_read += group_bytes
        self.instances += instances_made
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.bytes_read / elapsed
        eta = (self.total_bytes - self.bytes_read) / rate if rate > 0 else float("nan")
        self.say(f"{groups_done}/{groups_total} groups done: {self.instances} instances, "
                 f"{rate / 1e6:.2f} MB of text/s, ETA {eta:.0f}s")


def print_summary(summary, results, elapsed, task_index, num_tasks, task_source, stream=None):
    """What one task wrote: invalid UTF-8 warnings, then instances per output file, on stderr.

    `summary` and `results` are `generate`'s; `task_source` says where the task index came from.
    """
    stream = stream or sys.stderr
    task = f"task {task_index + 1} of {num_tasks} ({task_source}): " if num_tasks > 1 else ""
    for result in results:
        for path, (count, first_line) in sorted(result.read_stats.bad_utf8_files.items()):
            where = f" (first at line {first_line})" if first_line else ""
            print(f"warning: {path}: {count} line(s) of invalid UTF-8, bad bytes replaced{where}", file=stream)
    total = sum(summary.values())
    documents = sum(r.documents for r in results)
    print(f"{task}wrote {total} instances from {documents} documents in {elapsed:.1f}s "
          f"({total / max(elapsed, 1e-9):.0f} instances/s):", file=stream)
    for path, count in summary.items():
        print(f"  {path}: {count} instances", file=stream)
    if num_tasks > 1 and task_index == 0:
        # No task waits for another: each lists its own shards above, and the run is complete
        # when every task has exited with status 0.
        print(f"{num_tasks} tasks share this run; each reports (and renames) its own shards", file=stream)
