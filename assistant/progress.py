"""Progress bars on stderr for the few slow one-time jobs (assembling and converting model
weights, indexing a large document folder). tqdm is there anyway: openai-whisper needs it."""

from __future__ import annotations

import sys
from typing import Any


class ProgressBar:
    """A callable `(what, done, total)`: one bar per `what`, redrawn in place. Totals of a
    megabyte or more are taken as bytes (shown as MB); smaller ones as `unit`s."""

    def __init__(self, unit: str = "step", *, min_total: int = 0) -> None:
        self.unit = unit
        self.min_total = min_total  # smaller jobs are quick: no bar
        self._bars: dict[str, Any] = {}

    def __call__(self, what: str, done: int, total: int) -> None:
        if total < self.min_total:
            return
        bar = self._bars.get(what)
        if bar is None:
            from tqdm import tqdm

            in_bytes = total >= 1 << 20
            bar = self._bars[what] = tqdm(
                total=total,
                desc=what,
                unit="B" if in_bytes else self.unit,
                unit_scale=in_bytes,
                leave=True,
                file=sys.stderr,
            )
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
