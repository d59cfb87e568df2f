"""The REST API (FastAPI): studies, trials, Pareto fronts, catalog, health, pages."""

from epim.api._app import create_app
from epim.api._settings import ENVIRONMENT, Settings, get_settings

__all__ = ["ENVIRONMENT", "Settings", "create_app", "get_settings"]
