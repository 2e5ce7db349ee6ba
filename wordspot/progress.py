"""Progress for long work: a rich bar on a terminal, plain log lines elsewhere, or nothing."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def _fmt(metrics: dict) -> str:
    return "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())


class Reporter:
    """Silent: the library's default, so that the Python API prints nothing unless asked."""

    def start(self, what: str, total: int | None, seconds: float | None = None) -> None:
        """Work of `total` steps, or of `seconds` at most, whichever ends first."""
    def advance(self, n: int = 1, **metrics: float) -> None: ...
    def log(self, message: str) -> None: ...
    def stop(self) -> None: ...


class PlainReporter(Reporter):
    """One line every `every` seconds: for logs of non-interactive runs."""

    def __init__(self, every: float = 10.0, stream=sys.stderr) -> None:
        self.every, self.stream = every, stream

    def start(self, what: str, total: int | None, seconds: float | None = None) -> None:
        self.what, self.total, self.seconds, self.done, self.t0, self.last = what, total, seconds, 0, time.time(), 0.0
        self.mark: tuple[float, int] | None = None  # (time, steps) at the first advance: this run's pace from there
        self.log(f"{what}: start" + (f" (at most {seconds / 60:.1f} min)" if seconds else ""))

    def _left(self, elapsed: float) -> str:
        """Time left: by the pace of the steps so far, or the time budget, whichever is sooner."""
        left = [self.seconds - elapsed] if self.seconds else []
        t, d = self.mark or (self.t0, 0)
        if self.total and self.done > d and time.time() > t:
            left.append((self.total - self.done) * (time.time() - t) / (self.done - d))
        return f", about {max(0.0, min(left)) / 60:.1f} min left" if left else ""

    def advance(self, n: int = 1, **metrics: float) -> None:
        self.done += n
        now = time.time()
        if self.mark is None:  # a resumed run's first call counts the steps done before it
            self.mark = (now, self.done)
        if now - self.last >= self.every or (self.total and self.done >= self.total):
            self.last = now
            of = f"/{self.total}" if self.total else ""
            self.log(f"{self.what}: {self.done}{of} ({now - self.t0:.0f}s{self._left(now - self.t0)}) {_fmt(metrics)}")

    def log(self, message: str) -> None:
        print(message, file=self.stream, flush=True)


class RichReporter(Reporter):
    """A live progress bar with the latest metrics."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress: Progress | None = None

    def start(self, what: str, total: int | None, seconds: float | None = None) -> None:
        self.stop()
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[metrics]}"),
                                 console=self.console, transient=False)
        self.progress.start()
        self.task = self.progress.add_task(what, total=total, metrics="")

    def advance(self, n: int = 1, **metrics: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=n, **({"metrics": _fmt(metrics)} if metrics else {}))

    def log(self, message: str) -> None:
        (self.progress.console if self.progress else self.console).print(message, highlight=False)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
