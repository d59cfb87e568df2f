"""The REST API (FastAPI): studies, trials, Pareto fronts, catalog, health, pages."""

from epim.api._app import create_app

__all__ = ["create_app"]
