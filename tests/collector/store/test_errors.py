"""One error tree: every exception class collector/, lineage/ and alerts/ define derives from
``LedgerlineError``, and importing the errors (and the offline evidence verifier) never loads
the ClickHouse driver."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import alerts
import collector
import lineage
from collector.store.errors import LedgerlineError

ROOT = Path(__file__).resolve().parents[3]


def _exception_classes() -> list[type[BaseException]]:
    found = []
    for package in (collector, lineage, alerts):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for _, obj in inspect.getmembers(module, inspect.isclass):
                if issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                    found.append(obj)
    return found


def test_every_exception_is_under_the_one_base() -> None:
    classes = _exception_classes()
    assert len(classes) > 20  # the walk saw the tree
    assert [f"{c.__module__}.{c.__name__}" for c in classes if not issubclass(c, LedgerlineError)] == []


def test_importing_the_errors_does_not_load_the_driver() -> None:
    code = (
        "import sys, collector.errors, collector.store, lineage.evidence.errors, lineage.evidence.verify; "
        "print('clickhouse_connect' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
