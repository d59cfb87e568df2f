"""A study's stored artifacts: the dense start and the layer-sensitivity profile.

Both are computed once on the executor and kept in the study's store, under keys made by the
proxy itself (``TrainingProxy.start_key`` and ``profile_key``: ``epim.proxy``'s one recipe,
which leaves the device and threads out), so a resumed run, and a CPU or GPU run of the same
settings, finds them instead of training them again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from epim.errors import InputError
from epim.search._records import StudyStore
from epim.search._strategy import ProfileJob, TrainingProxy
from epim.search.executors import Executor

#: Probes per profiling job (a job per executor slot would be as good; this keeps them even).
PROFILE_CHUNK = 48
#: The store's artifact kinds, and the prefix of their keys.
DENSE_START = "dense_start"
PROFILE = "profile"


def dense_start_artifact(evaluator: TrainingProxy, network: dict[str, Any]) -> str:
    """The store key of ``evaluator``'s dense start for ``network``."""
    return f"dense-start-{evaluator.start_key(network)}"


def profile_artifact(evaluator: TrainingProxy, job: ProfileJob) -> str:
    """The store key of a profile job's results."""
    return f"profile-{evaluator.profile_key(job)}"


class Artifacts:
    """Loads a study's artifacts from its store, or computes and stores them.

    Args:
        store: The study's store.
        executor: Where the proxy runs.
        network: The network dict every job carries.
        should_stop: Polled while computing; once true, the computation is cancelled.

    """

    def __init__(self, store: StudyStore, executor: Executor, network: dict[str, Any], *,
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        self.store = store
        self.executor = executor
        self.network = network
        self.should_stop = should_stop

    def with_dense_start(self, evaluator: TrainingProxy) -> TrainingProxy | None:
        """``evaluator`` fine-tuning from its dense start (stored, or trained now).

        Returns:
            The evaluator carrying its start; ``None`` if the run stopped first.

        Raises:
            InputError: If pretraining failed after its retries.

        """
        key = dense_start_artifact(evaluator, self.network)
        data = self.store.load_artifact(key)
        if data is None:
            outcome = self.executor.map(evaluator.pretrain, [self.network],
                                        should_stop=self.should_stop)[0]
            if outcome.cancelled:
                return None
            if not outcome.ok:
                raise InputError(f"the dense proxy's pretraining failed: {outcome.error}",
                                 field="accuracy")
            data = bytes(outcome.value)
            self.store.save_artifact(key, DENSE_START, data)
        return evaluator.with_start(data)

    def profile(self, evaluator: TrainingProxy, reference: dict[str, Any],
                probes: list[tuple[str, Any]], samples: int, steps: int
                ) -> list[tuple[float, float]] | None:
        """Probe results ``(loss, accuracy)``, the reference first (stored, or measured now).

        The probes are measured in jobs of :data:`PROFILE_CHUNK` on the executor.

        Returns:
            The results; ``None`` if the run stopped first.

        Raises:
            InputError: If a job failed after its retries.

        """
        key = profile_artifact(evaluator, (self.network, reference, probes, samples, steps))
        stored = self.store.load_artifact(key)
        if stored is not None:
            document = json.loads(stored)
            return [(float(r[0]), float(r[1])) for r in document["results"]]
        chunks = [probes[i:i + PROFILE_CHUNK] for i in range(0, len(probes), PROFILE_CHUNK)]
        outcomes = self.executor.map(
            evaluator.profile, [(self.network, reference, chunk, samples, steps)
                                for chunk in chunks or [[]]],
            should_stop=self.should_stop)
        if any(o.cancelled for o in outcomes):
            return None
        failed = next((o for o in outcomes if not o.ok), None)
        if failed is not None:
            raise InputError(f"the sensitivity profile failed: {failed.error}",
                             field="sampler")
        first = outcomes[0].value[0]
        results: list[tuple[float, float]] = [(float(first[0]), float(first[1]))]
        for outcome in outcomes:
            results += [(float(r[0]), float(r[1])) for r in outcome.value[1:]]
        document = {"reference": reference, "samples": samples, "steps": steps,
                    "probes": [{"layer": name, "choice": choice} for name, choice in probes],
                    "results": [list(r) for r in results]}
        self.store.save_artifact(key, PROFILE, json.dumps(document).encode())
        return results
