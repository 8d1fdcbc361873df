"""Training logs: a CSV file, and TensorBoard when the optional ``tensorboard`` extra is installed."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from a2d.storage.atomic import atomic_write


class MetricsLog:
    """Append rows ``{"step", "split", "loss", ...}`` to ``RUN/metrics.csv`` (and TensorBoard).

    Columns are fixed when the file is created; keys outside them are ignored. A run that starts
    at ``start_step`` (a resumed run: the checkpoint's step) first drops the rows logged after that
    step by the run it continues, so every step appears once.
    """

    COLUMNS = (
        "step", "split", "loss", "param_mse", "cond_gain", "lr", "samples_per_s", "elapsed_s"
    )  # fmt: skip

    def __init__(
        self,
        run_dir: Path,
        extra: tuple[str, ...] = (),
        tensorboard: bool = True,
        start_step: int = 0,
    ) -> None:
        self.path = run_dir / "metrics.csv"
        new = not self.path.exists()
        columns = (*self.COLUMNS, *sorted(extra)) if new else self._keep_until(start_step)
        self._file = self.path.open("a", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=columns, extrasaction="ignore")
        if new:
            self._writer.writeheader()
        self._tb: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # optional extra `a2d[tensorboard]`
                pass
            else:
                self._tb = SummaryWriter(str(run_dir / "tensorboard"))

    def _keep_until(self, step: int) -> tuple[str, ...]:
        """Drop the rows after ``step`` (atomically); return the file's columns."""
        with self.path.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = list(reader)
        columns = tuple(header) if header else self.COLUMNS
        kept = [r for r in rows if not r or _step(r[0]) <= step]
        if header is None or len(kept) != len(rows):
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(columns)
            writer.writerows(kept)
            atomic_write(self.path, out.getvalue())
        return columns

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow(row)
        self._file.flush()
        if self._tb is not None:
            for key, value in row.items():
                if key not in ("step", "split") and isinstance(value, (int, float)):
                    self._tb.add_scalar(f"{row['split']}/{key}", value, row["step"])

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def _step(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # a damaged row: dropped
        return float("inf")
