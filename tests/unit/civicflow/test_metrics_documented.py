"""The metrics docs/operations.md lists are exactly the ones the services define, and the dashboard asks for
nothing else: neither can rot while the code moves on."""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

import audit_service.metrics
import civicflow.metrics.http
import civicflow.metrics.rpc
import evaluator.metrics
import orchestrator.metrics
from civicflow.settings import REPO_ROOT

# Imported for their definitions, which register themselves in the process's registry.
DEFINITIONS = (
    audit_service.metrics,
    civicflow.metrics.http,
    civicflow.metrics.rpc,
    evaluator.metrics,
    orchestrator.metrics,
)
OPERATIONS = REPO_ROOT / "docs" / "operations.md"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "civicflow.json"
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


def defined() -> dict[str, str]:
    """Each civicflow_ metric as Prometheus names it (a counter with `_total`), and its type."""
    names = {}
    for family in REGISTRY.collect():
        if family.name.startswith("civicflow_"):
            names[family.name + ("_total" if family.type == "counter" else "")] = family.type
    return names


def documented() -> dict[str, str]:
    """The table of docs/operations.md's Metrics section: name -> type."""
    return dict(re.findall(r"^\| `(civicflow_[a-z_]+)` \| (\w+) \|", _section(), flags=re.MULTILINE))


def _section() -> str:
    return OPERATIONS.read_text().split("### Metrics", 1)[1].split("### Dashboards", 1)[0]


def test_every_metric_defined_is_documented_with_its_type_and_nothing_else() -> None:
    assert documented() == defined()


def test_the_labels_documented_are_the_metrics_own() -> None:
    rows = re.findall(r"^\| `(civicflow_[a-z_]+)` \| \w+ \|([^|]*)\|", _section(), flags=re.MULTILINE)
    own = {
        value._name + ("_total" if value._type == "counter" else ""): set(value._labelnames)
        for module in DEFINITIONS
        for value in vars(module).values()
        if isinstance(value, MetricWrapperBase)
    }
    assert {name: set(re.findall(r"`(\w+)`", listed)) for name, listed in rows} == own


QUERIES = [
    target["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for target in panel.get("targets", [])
]


@pytest.mark.parametrize("expression", QUERIES)
def test_every_dashboard_query_asks_for_metrics_that_exist(expression: str) -> None:
    names = set(re.findall(r"civicflow_[a-z_]+", expression))
    assert names
    known = set(defined())
    for name in names:
        base = next((name.removesuffix(suffix) for suffix in HISTOGRAM_SERIES if name.endswith(suffix)), name)
        assert name in known or (base in known and defined()[base] == "histogram"), name


def test_the_dashboard_has_a_panel_for_every_metric() -> None:
    asked = {
        next((name.removesuffix(suffix) for suffix in HISTOGRAM_SERIES if name.endswith(suffix)), name)
        for expression in QUERIES
        for name in re.findall(r"civicflow_[a-z_]+", expression)
    }
    assert set(defined()) - asked == set()
