"""A service's metrics as Prometheus scrapes them: over HTTP from its metrics port, parsed by prometheus_client."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx2
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """Every sample of one scrape: (name, labels) to value."""

    samples: Mapping[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 for a labelled sample not (yet) exposed, as Prometheus's absent series."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def label_sets(self, name: str) -> set[frozenset[tuple[str, str]]]:
        return {labels for sample, labels in self.samples if sample == name}

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}


def scrape(port: int) -> Scrape:
    response = httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=5.0)
    response.raise_for_status()
    return parse_exposition(response.text)


def parse_exposition(text: str) -> Scrape:
    """Prometheus's text format, as served on a metrics port."""
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return Scrape(samples)


def scraped_until(port: int, condition: Callable[[Scrape], bool], *, timeout: float = 20.0) -> Scrape:
    """The first scrape that meets `condition` (gauges set by a loop, counters of work that ends after a reply)."""
    deadline = time.monotonic() + timeout
    while True:
        scraped = scrape(port)
        if condition(scraped):
            return scraped
        if time.monotonic() > deadline:
            raise AssertionError(f"no scrape of :{port} met the condition within {timeout} s")
        time.sleep(0.1)
