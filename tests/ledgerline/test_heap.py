"""Once ``serve`` has started, what it built to serve (its parts among it) is out of the cyclic
garbage collector's walks, and what a request allocates later is not: it is still collected."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from collector.settings import CollectorSettings
from collector.store import StoreSettings
from ledgerline.server import Server


def _walked(obj: object) -> bool:
    """Whether a collection walks ``obj`` (frozen objects are in no generation)."""
    return any(o is obj for o in gc.get_objects())


@pytest.mark.timeout(60)
def test_serve_freezes_what_it_built_and_collects_what_comes_after(
    store_settings: StoreSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LEDGERLINE_API_AUTH", "off")
    settings = CollectorSettings(**{**store_settings.model_dump(), "data_dir": tmp_path})
    server = Server(settings, api_port=0, components=frozenset({"api"}))  # no collector: no freeze of its own
    built = server.config  # made before start, kept while serving
    assert _walked(built)
    server.start()
    try:
        assert server.alerts is not None and server.replay is not None  # built by start
        assert not _walked(built) and not _walked(server.alerts) and not _walked(server.replay)
        later: list[object] = []
        later.append(later)  # a cycle made after start: the collector still finds it
        assert _walked(later)
    finally:
        server.stop()
