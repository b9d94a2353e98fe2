"""The in-process recording tests use the stage runtime tests' database per backend."""

from tests.stage.conftest import database_url

__all__ = ["database_url"]
