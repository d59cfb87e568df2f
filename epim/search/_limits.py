"""What one study may ask of a server: network size, search-space size, trials.

The operator sets these (``EPIM_MAX_*``); a spec beyond them is refused at submission with the
field path and the limit, before it can tie up a runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from epim.workloads import NetworkLimits


@dataclass(frozen=True, kw_only=True)
class StudyLimits:
    """Bounds a submitted study must respect.

    Attributes:
        network: Layers, channels, kernel and input size of an inline network.
        max_parameters: Searched parameters (one per layer and searched field).
        max_trials: ``budget.n_trials``.
        max_proxy_bytes: Memory the accuracy proxy may need to train and evaluate (bytes;
            estimated by ``epim.workloads.proxy_memory`` from the scaled network).
        max_study_bytes: What a study may store: its trials' estimated stored size times
            the trials it stores (bytes).

    """

    network: NetworkLimits = field(default_factory=NetworkLimits)
    max_parameters: int = 2_000
    max_trials: int = 100_000
    max_proxy_bytes: int = 4 * 2**30
    max_study_bytes: int = 4 * 2**30
