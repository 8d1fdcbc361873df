"""Training logs: a CSV file, and TensorBoard when the optional ``tensorboard`` extra is installed."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


class MetricsLog:
    """Append rows ``{"step", "split", "loss", ...}`` to ``RUN/metrics.csv`` (and TensorBoard).

    Columns are fixed when the file is created; keys outside them are ignored.
    """

    COLUMNS = ("step", "split", "loss", "param_mse", "lr", "samples_per_s", "elapsed_s")

    def __init__(
        self, run_dir: Path, extra: tuple[str, ...] = (), tensorboard: bool = True
    ) -> None:
        self.path = run_dir / "metrics.csv"
        new = not self.path.exists()
        if new:
            columns = (*self.COLUMNS, *sorted(extra))
        else:
            with self.path.open(newline="") as f:
                columns = tuple(next(csv.reader(f), self.COLUMNS))
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
