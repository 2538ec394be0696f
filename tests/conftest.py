"""Shared test helpers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def build_tables():
    """tools/build_tables.py imported as a module."""
    path = REPO / "tools" / "build_tables.py"
    spec = importlib.util.spec_from_file_location("build_tables", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
