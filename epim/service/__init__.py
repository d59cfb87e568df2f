"""The service layer: composition root wiring proxies, the cost model and the search."""

from epim.service._evaluators import ProxyAccuracy
from epim.service._runner import Runner
from epim.service._study import delete_optuna_study, prepare_database, run_study

__all__ = ["ProxyAccuracy", "Runner", "delete_optuna_study", "prepare_database", "run_study"]
