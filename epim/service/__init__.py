"""The service layer: composition root wiring proxies, the cost model and the search."""

from epim.service._evaluators import ProxyAccuracy
from epim.service._study import run_study

__all__ = ["ProxyAccuracy", "run_study"]
