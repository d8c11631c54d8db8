"""Registers tests/infra/infra_lib.py as module ``infra_lib`` (the suite uses --import-mode=importlib)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if "infra_lib" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("infra_lib", Path(__file__).with_name("infra_lib.py"))
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["infra_lib"] = _module
    _spec.loader.exec_module(_module)
