"""Progress of long work: percent done and time left, from done / total counts and a start time.

The work records its counts where it happens (a pack's files, a connector run's pages); a page shows
`Progress` through templates/governance/_progress.html. Time left is elapsed / done x remaining and
is only stated once there is enough to go on (MIN_DONE units and MIN_ELAPSED seconds). A running
piece of work never shows 100 %: that is kept for finished work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

MIN_DONE = 1
MIN_ELAPSED = 2.0  # seconds


def clamp(done: int, total: int | None) -> int:
    """done, never below 0 and never above the total (when it is known)."""
    done = max(0, int(done or 0))
    return min(done, total) if total is not None and total >= 0 else done


def format_left(seconds: float) -> str:
    """'less than a minute', 'about 1 min', 'about 12 min', 'about 2 h 5 min'."""
    if seconds < 60:
        return "less than a minute"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"about {hours} h {rest} min" if rest else f"about {hours} h"


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    started_at: datetime | None = None
    finished: bool = False
    estimated: bool = False  # the total is an estimate (e.g. what the source held last time)
    unit: str = "items"
    now: datetime = field(default_factory=timezone.now)

    @property
    def count(self) -> int:
        return clamp(self.done, self.total)

    @property
    def known(self) -> bool:
        """Whether a percent can be stated at all (finished work is always 100 %)."""
        return self.finished or bool(self.total)

    @property
    def percent(self) -> int | None:
        if self.finished:
            return 100
        if not self.total:
            return None
        return min(99, math.floor(self.count * 100 / self.total))

    @property
    def elapsed(self) -> float | None:
        if self.started_at is None:
            return None
        return max(0.0, (self.now - self.started_at).total_seconds())

    @property
    def seconds_left(self) -> float | None:
        """elapsed / done x remaining, once MIN_DONE units are done over MIN_ELAPSED seconds."""
        if self.finished or not self.total or self.elapsed is None:
            return None
        if self.count < MIN_DONE or self.elapsed < MIN_ELAPSED:
            return None
        return self.elapsed / self.count * max(0, self.total - self.count)

    @property
    def time_left(self) -> str:
        seconds = self.seconds_left
        return "" if seconds is None else f"{format_left(seconds)} left"

    @property
    def label(self) -> str:
        """'42 % · about 1 min left', '42 % · estimating time left', 'done', or '17 items so far'."""
        if self.finished:
            return "100 % · done"
        if self.started_at is None and not self.count:
            return "waiting to start"
        if self.percent is None:
            return f"{self.count} {self.unit} so far"
        tail = self.time_left or "estimating time left"
        return f"{self.percent} % · {tail}"

    @property
    def detail(self) -> str:
        """'5 of 17 files' (with '≈' when the total is an estimate)."""
        if self.total is None:
            return f"{self.count} {self.unit}"
        about = "≈ " if self.estimated else ""
        return f"{self.count} of {about}{self.total} {self.unit}"


def apply_estimate(preview_seconds: float, rows: int) -> float:
    """Seconds an all-or-nothing apply is expected to take, from its dry run's time: the apply plans
    again and then writes, so twice the preview, and never under a second when there is work."""
    if rows <= 0:
        return 0.0
    return round(max(1.0, 2 * max(0.0, preview_seconds)), 1)
