"""Proxy results cached by design hash (and the proxy's configuration)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Protocol


class ResultCache(Protocol):
    """Where proxy results are kept: ``get`` returns ``None`` on a miss."""

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the stored result for ``key``, or ``None``."""

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key``."""


class MemoryCache:
    """An in-process cache (thread-safe)."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the stored result for ``key``, or ``None``."""
        with self._lock:
            value = self._data.get(key)
            return dict(value) if value is not None else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key``."""
        with self._lock:
            self._data[key] = dict(value)

    def __len__(self) -> int:
        return len(self._data)


class JsonFileCache(MemoryCache):
    """A cache persisted as one JSON file (rewritten atomically on every put)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        if self.path.exists():
            self._data.update(json.loads(self.path.read_text(encoding="utf-8")))

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` and write the file."""
        super().put(key, value)
        with self._lock:
            temporary = self.path.with_suffix(self.path.suffix + ".tmp")
            temporary.write_text(json.dumps(self._data, sort_keys=True), encoding="utf-8")
            temporary.replace(self.path)
