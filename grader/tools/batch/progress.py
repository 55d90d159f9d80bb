"""The batch's progress line: done/total, percent, elapsed, ETA (a bar on a terminal, one final line otherwise)."""
from __future__ import annotations

import shutil
import sys
import threading
import time


def hms(s: float) -> str:
    s = int(round(max(s, 0)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """A one-line progress bar on stderr (done/total, percent, elapsed, ETA); only a final line when not a TTY."""

    def __init__(self, total: int, to_grade: int, stream=None, tty: bool | None = None, width: int = 24):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total, self.to_grade, self.width = total, to_grade, width
        self.done = total - to_grade   # submissions skipped by --resume count as done
        self.graded = 0
        self.t0 = time.monotonic()
        self.t_last = self.t0   # when the last submission finished
        self.last = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        if self.tty:
            self._draw()
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    def _tick(self):
        while not self._stop.wait(1.0):
            self._draw()

    def line(self, now: float | None = None) -> str:
        el = (time.monotonic() if now is None else now) - self.t0
        frac = self.done / self.total if self.total else 1.0
        fill = int(round(frac * self.width))
        left = self.to_grade - self.graded
        eta = "--:--"
        if self.graded:  # mean time per submission so far (several at once), counting down between completions
            at_last = self.t_last - self.t0
            eta = hms(max(at_last / self.graded * left - (el - at_last), 0.0))
        return (f"[{'#' * fill}{'.' * (self.width - fill)}] {self.done}/{self.total} {frac * 100:3.0f}%  "
                f"elapsed {hms(el)}  ETA {eta}" + (f"  {self.last}" if self.last else ""))

    def _draw(self):
        with self._lock:
            text = self.line()
            cols = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r" + text[: cols - 1].ljust(cols - 1))
            self.stream.flush()

    def update(self, oc):
        with self._lock:
            self.done += 1
            self.graded += 1
            self.t_last = time.monotonic()
            self.last = f"{oc.id}: {oc.status}"
        if self.tty:
            self._draw()

    def finish(self, text: str):
        self._stop.set()
        if self._thread:
            self._thread.join()
        if self.tty:
            self._draw()
            self.stream.write("\n")
        self.stream.write(text + "\n")
        self.stream.flush()
