"""`--scheduler` values, parsed without importing Dask: `local`, `local:N`, `tcp://HOST:PORT`."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional

_TCP = re.compile(r"tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?P<port>[0-9]{1,5})")


@dataclass(frozen=True)
class SchedulerSpec:
    """A LocalCluster of `workers` processes on this machine, or the scheduler at `address`."""

    workers: int = 0
    address: Optional[str] = None

    @property
    def local(self) -> bool:
        return self.address is None


def parse_scheduler(text: str) -> SchedulerSpec:
    """ValueError naming `text` unless it is local, local:N (N >= 1) or tcp://host:port."""
    if text == "local":
        return SchedulerSpec(max(1, os.cpu_count() or 1))
    if text.startswith("local:"):
        n = text[len("local:"):]
        if not (n.isascii() and n.isdigit()) or int(n) < 1:
            raise ValueError(f"--scheduler {text!r}: expected local:N with N >= 1 worker processes")
        return SchedulerSpec(int(n))
    m = _TCP.fullmatch(text)
    if m and 0 < int(m.group("port")) < 65536:
        return SchedulerSpec(0, text)
    raise ValueError(f"--scheduler {text!r}: expected local, local:N or tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786)")
