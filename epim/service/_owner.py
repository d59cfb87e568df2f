"""Who holds a study: an owner name that says whether its process is still alive.

An owner is ``host:pid-namespace:pid:start-time:random``. A runner on the same host and in
the same PID namespace can tell for certain that an owner's process is gone (no such PID, or a
PID reused by a process that started later), so a study whose runner was killed is requeued at
once instead of after the heartbeat timeout. Owners on other hosts are judged by their
heartbeat alone.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path


def _pid_namespace() -> str:
    try:
        return str(Path("/proc/self/ns/pid").stat().st_ino)
    except OSError:
        return "-"


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), or ``None`` if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of proc(5), after the comm field


def new_owner(kind: str = "runner") -> str:
    """A fresh owner name for this process."""
    pid = os.getpid()
    return (f"{socket.gethostname()}:{_pid_namespace()}:{pid}:{_start_time(pid) or '-'}:"
            f"{kind}-{uuid.uuid4().hex[:6]}")


def is_dead_here(owner: str) -> bool:
    """True when ``owner`` ran on this host and PID namespace and its process is gone."""
    parts = owner.split(":")
    if len(parts) != 5 or parts[0] != socket.gethostname() or parts[1] != _pid_namespace() \
            or parts[1] == "-" or not parts[2].isdigit():
        return False
    started = _start_time(int(parts[2]))
    return started is None or (parts[3] != "-" and started != parts[3])
