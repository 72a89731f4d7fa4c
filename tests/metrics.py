"""Reading what ``/metrics`` serves: the Prometheus text exposition parsed into samples."""

from __future__ import annotations

import math
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One scrape: sample values by name and labels, and the families present."""

    __test__ = False

    def __init__(self, text: str) -> None:
        self.text = text
        self.families: set[str] = set()
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            self.families.add(family.name)
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float | None:
        """The sample ``name`` with exactly ``labels``; None when absent."""
        return self.samples.get((name, frozenset(labels.items())))

    def get(self, name: str, **labels: str) -> float:
        """The sample ``name`` with exactly ``labels`` (0 when absent: a counter never incremented)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def label_values(self, name: str, label: str) -> set[str]:
        """Every value of ``label`` among the samples called ``name``."""
        return {dict(labels)[label] for (n, labels) in self.samples if n == name and label in dict(labels)}

    def finite(self, name: str, **labels: str) -> bool:
        value = self.value(name, **labels)
        return value is not None and not math.isnan(value)


def scrape(url: str, **kwargs: Any) -> Scrape:
    """GET ``url`` (a ``/metrics`` endpoint) and parse it; it must answer 200 in the text format."""
    response = httpx.get(url, timeout=10, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    return Scrape(response.text)


def read(registry: CollectorRegistry) -> Scrape:
    """What ``/metrics`` would serve for ``registry`` now."""
    return Scrape(generate_latest(registry).decode())
