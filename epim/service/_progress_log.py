"""One line per stored batch of a running study, and one when it ends: what a runner logs.

``epim serve`` and ``epim runner`` log at INFO, so their terminal shows each study's progress
(``study 3 (quickstart): 20/48 trials, 12 feasible, front 5, hypervolume 0.4123``) and its end
(``study 3 (quickstart) completed: ...``). The lines come from the runner's own progress
callback, in the runner's process: nothing is read from the database for them and the API's
process does no work. A study that stores many batches a second is logged at most once per
``min_interval_s``, but a new phase, the last trial and the end are always logged.
"""

from __future__ import annotations

import logging
import time

from epim.search import Progress

log = logging.getLogger("epim.progress")


class ProgressLog:
    """The progress callback that logs a study's lines (logger ``epim.progress``, INFO).

    Args:
        study_id: The study's id.
        name: The study's name.
        min_interval_s: Least time between two progress lines of the study (s).

    """

    def __init__(self, study_id: int, name: str, *, min_interval_s: float = 1.0) -> None:
        self.label = f"study {study_id} ({name})"
        self.min_interval_s = min_interval_s
        self.last: Progress | None = None
        self._logged_at = -float("inf")
        self._phase: str | None = None

    def __call__(self, progress: Progress) -> None:
        """Log ``progress`` unless the last line is recent (and nothing new happened)."""
        self.last = progress
        phase = _phase(progress)
        now = time.monotonic()
        if (now - self._logged_at < self.min_interval_s and phase == self._phase
                and progress.completed < progress.n_trials):
            return
        self._logged_at, self._phase = now, phase
        log.info("%s: %s", self.label, self.counts(progress))

    def counts(self, progress: Progress, *, eta: bool = True) -> str:
        """``20/48 trials, 12 feasible, front 5, hypervolume 0.4123`` (phase, ETA)."""
        text = (f"{progress.completed}/{progress.n_trials} trials, {progress.feasible} "
                f"feasible, front {progress.front_size}, hypervolume "
                f"{progress.hypervolume:.4f}")
        if progress.failed:
            text += f", {progress.failed} failed"
        phase = _phase(progress)
        if phase:
            text += f", phase {phase}"
        left = progress.eta_s
        if eta and left is not None and progress.completed < progress.n_trials:
            text += f", ETA {int(left // 60)}m{int(left % 60):02d}s"
        return text

    def finished(self, status: str, error: str | None = None,
                 elapsed_s: float | None = None) -> None:
        """Log the study's end: ``completed``, ``failed`` (with its error) or ``cancelled``."""
        parts = [] if self.last is None else [self.counts(self.last, eta=False)]
        if elapsed_s is not None:
            parts.append(f"{elapsed_s:.1f} s")
        if error:
            parts.append(f"error: {error}")
        log.info("%s %s%s", self.label, status, (": " + ", ".join(parts)) if parts else "")


def _phase(progress: Progress) -> str | None:
    """The phase a study is in (dense start, profile, search), where the driver tells it."""
    phase = getattr(progress, "phase", None)
    return str(phase) if phase else None
