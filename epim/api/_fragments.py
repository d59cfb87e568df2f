"""The JSON of the read paths, serialized once per stored trial and kept.

A stored trial never changes but for its ``on_front`` flag (trials are only ever added, and
a batch rewrites the front flags in the transaction that adds its trials). So the JSON of a
trial as a listing shows it (``TrialPublic``) and as a front shows it (``ParetoTrial``) is
serialized once, through the response schemas (the bytes FastAPI would send), and kept; a
page is joined from these fragments with each trial's current ``on_front``. Documents that
depend on the whole set of stored trials (a front, a projection) are kept under the
study's trial count and hypervolume, which change with every stored batch.

Everything is keyed by database URL, study id and the study's creation time: a database
created again at the same URL never sees another's trials.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any

from pydantic import TypeAdapter

from epim import results
from epim.service import ParetoTrial, TrialPublic, trial_public

#: The ``on_front`` member of a serialized ``TrialPublic`` (serialized with ``false``).
_ON_FRONT = b',"on_front":false,'


class ByteCache:
    """A thread-safe LRU of byte strings, bounded by the bytes it holds."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[bytes, ...]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[bytes, ...] | None:
        """The kept value of ``key``, or ``None``."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: tuple[bytes, ...]) -> None:
        """Keep ``value``; drop the least recently used values past the bound."""
        size = sum(map(len, value))
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._bytes += size - (sum(map(len, old)) if old is not None else 0)
            self._items[key] = value
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= sum(map(len, dropped))

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._bytes = 0


#: Serialized trials: ``TrialPublic`` split around ``on_front``, and ``ParetoTrial``.
TRIALS = ByteCache(128 * 2**20)
#: Whole documents under a study's trial count (fronts, projections).
DOCUMENTS = ByteCache(32 * 2**20)


def study_key(url: str, row: results.StudyRow) -> tuple[Any, ...]:
    """What identifies a study's stored trials across databases and re-created databases."""
    return (url, row.id, row.created_at)


#: Where one serialized trial ends and the next begins in a serialized list of trials (a
#: quote inside a JSON string is escaped, so these bytes never occur inside a string).
_BETWEEN = b'},{"number":'


def _serialized(adapter: TypeAdapter[list[Any]], items: list[Any]) -> list[bytes]:
    """Each item's JSON, from one serialization of the list (items start with ``number``).

    Should the boundary occur inside an item as well (a design holding a list of objects
    that start with ``number``), each item is serialized alone.
    """
    parts = adapter.dump_json(items)[1:-1].split(_BETWEEN)
    if len(parts) != len(items):
        return [adapter.dump_json([item])[1:-1] for item in items]
    if len(parts) == 1:
        return parts
    return ([parts[0] + b"}"] + [b'{"number":' + p + b"}" for p in parts[1:-1]]
            + [b'{"number":' + parts[-1]])


_LISTED: TypeAdapter[list[Any]] = TypeAdapter(list[TrialPublic])
_FRONTED: TypeAdapter[list[Any]] = TypeAdapter(list[ParetoTrial])


def _listed(trials: list[results.TrialRow]) -> list[tuple[bytes, ...]]:
    """``TrialPublic`` of each trial, split around its ``on_front`` value."""
    public = [trial_public(t) for t in trials]
    for trial in public:
        trial.on_front = False
    found: list[tuple[bytes, ...]] = []
    for item in _serialized(_LISTED, public):
        head, on_front, tail = item.partition(_ON_FRONT)
        assert on_front, "TrialPublic has on_front after number, state and feasible"
        found.append((head + b',"on_front":', b"," + tail))
    return found


def _fronted(trials: list[results.TrialRow]) -> list[tuple[bytes, ...]]:
    """``ParetoTrial`` of each trial."""
    front = [ParetoTrial(number=t.number, values=t.metrics, design=t.design) for t in trials]
    return [(item,) for item in _serialized(_FRONTED, front)]


def _fragments(url: str, row: results.StudyRow, numbers: Iterable[int], kind: str
               ) -> dict[int, tuple[bytes, ...]]:
    key = study_key(url, row)
    found: dict[int, tuple[bytes, ...]] = {}
    missing = []
    for number in numbers:
        kept = TRIALS.get((*key, kind, number))
        if kept is None:
            missing.append(number)
        else:
            found[number] = kept
    if missing:
        trials = results.trials_by_numbers(url, row.id, missing)
        if trials:
            make = _listed if kind == "listed" else _fronted
            for trial, fragment in zip(trials, make(trials), strict=True):
                found[trial.number] = fragment
                TRIALS.put((*key, kind, trial.number), fragment)
    return found


def front(url: str, row: results.StudyRow, count: int) -> list[int]:
    """Numbers of the study's current front, ascending, kept under its trial ``count``."""
    key = (*study_key(url, row), count, "front")
    kept = DOCUMENTS.get(key)
    if kept is None:
        kept = (array("q", results.front_numbers(url, row.id)).tobytes(),)
        DOCUMENTS.put(key, kept)
    return array("q", kept[0]).tolist()


def trial_items(url: str, row: results.StudyRow, numbers: list[int], fronted: set[int],
                max_bytes: int) -> list[bytes]:
    """The JSON of these trials, in order, as ``TrialPublic`` (on the front: ``fronted``).

    Stops before the trial that would take the items past ``max_bytes`` (at least one
    trial is given).
    """
    found = _fragments(url, row, numbers, "listed")
    items: list[bytes] = []
    size = 0
    for number in numbers:
        if number not in found:  # stored since the page was read: impossible, trials stay
            continue
        head, tail = found[number]
        item = head + (b"true" if number in fronted else b"false") + tail
        size += len(item) + 1
        if items and size > max_bytes:
            break
        items.append(item)
    return items


def front_items(url: str, row: results.StudyRow, numbers: list[int]) -> list[bytes]:
    """The JSON of these trials, in order, as ``ParetoTrial``."""
    found = _fragments(url, row, numbers, "front")
    return [found[n][0] for n in numbers if n in found]


def join_list(document: bytes, member: bytes, items: list[bytes]) -> bytes:
    """``document`` (serialized with ``member`` an empty list) with ``items`` in that list."""
    empty = b'"' + member + b'":[]'
    head, found, tail = document.partition(empty)
    assert found, f"the document has an empty {member!r}"
    return head + b'"' + member + b'":[' + b",".join(items) + b"]" + tail
