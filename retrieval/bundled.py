"""Where the bundled data is: the demo knowledge base, sample conversations, scope examples, input-rail weights,
evaluation suites and the demo's LoRA adapter (the repository's ``data/`` folder).

A wheel ships that folder inside this package as ``retrieval/bundled_data`` (pyproject.toml,
``[tool.hatch.build.targets.wheel.sources]``), read through :mod:`importlib.resources`; a source checkout (an editable
install) reads ``data/`` beside the packages. This module is the one place that knows either, so an installed
``supportbot`` never needs the source tree (tests/test_wheel_install.py installs the wheel and proves it).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGED = "bundled_data"


def bundled_data() -> Path:
    """The bundled data folder: the installed package's copy, else the source checkout's ``data/``.

    When neither exists (a wheel built without its data) the packaged path is returned, so the error a caller
    raises names where the data should have been.
    """
    packaged = Path(str(files("retrieval") / PACKAGED))
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / "data"
    return checkout if checkout.is_dir() else packaged


def bundled_path(*parts: str) -> Path:
    """A file or folder of the bundled data, e.g. ``bundled_path("scope", "ood_written.jsonl")``."""
    return bundled_data().joinpath(*parts)
