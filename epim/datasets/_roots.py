"""Dataset roots the operator names (``EPIM_DATA_ROOTS``); a study picks one by name.

A client never names a server directory: a spec's ``accuracy.data_root`` is a *name* that the
operator mapped to a directory. Errors about a named root name the root, not its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from epim.datasets._load import check_dataset
from epim.errors import InputError

#: A data root name: what ``EPIM_DATA_ROOTS`` may define and a spec may pick.
ROOT_NAME_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"


def resolve_data_root(root_name: str | None, roots: Mapping[str, Path]) -> Path | None:
    """The directory behind a root name (``None`` stays ``None``: the dataset's default).

    Raises:
        InputError: If the operator defined no root of that name (lists the names defined).

    """
    if root_name is None:
        return None
    if root_name not in roots:
        defined = ", ".join(sorted(roots)) or "none: the operator sets EPIM_DATA_ROOTS"
        raise InputError(f"no data root named '{root_name}' on this server", field="data_root",
                         expected=f"a data root the operator defined ({defined})")
    return roots[root_name]


def check_named_dataset(dataset: str, root_name: str | None,
                        roots: Mapping[str, Path]) -> Path | None:
    """Resolve a root name and check that ``dataset`` can be loaded from it.

    Returns:
        The directory (or ``None`` for the dataset's default location).

    Raises:
        InputError: Naming the root (never its path) and what the dataset needs.

    """
    path = resolve_data_root(root_name, roots)
    try:
        check_dataset(dataset, path)
    except InputError as exc:
        if root_name is None:
            raise
        raise InputError(f"the data root '{root_name}' holds no usable {dataset} data",
                         field="data_root", expected=exc.expected) from None
    return path
