"""Shared by the benchmarks and the tests: the repository root and the samples generator module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent


def generator() -> ModuleType:
    """samples/generate.py, loaded once (it is a script, not a package)."""
    if "sample_generator" in sys.modules:
        return sys.modules["sample_generator"]
    spec = importlib.util.spec_from_file_location("sample_generator", REPO / "samples" / "generate.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["sample_generator"] = mod
    spec.loader.exec_module(mod)
    return mod


def office_renderer() -> ModuleType:
    """samples/office_render.py (the word-processor renderer: DOCX → LibreOffice PDF → scans, photos), loaded once."""
    if "office_render" in sys.modules:
        return sys.modules["office_render"]
    spec = importlib.util.spec_from_file_location("office_render", REPO / "samples" / "office_render.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["office_render"] = mod
    spec.loader.exec_module(mod)
    return mod
