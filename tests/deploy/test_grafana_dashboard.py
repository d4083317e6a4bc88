"""The Grafana dashboard in deploy/grafana queries only metrics (and labels) that /metrics exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from core.clock import ManualClock
from tests.api.conftest import EVENT, advance, build_app, enter

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "waitingroom-dashboard.json"

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?")
MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')


def selectors(expr: str) -> list[tuple[str, list[str]]]:
    """(metric name, label names matched on) of every series selector in a PromQL expression.

    Grouping clauses, range durations and numbers are removed first; a name followed by ``(`` is
    a function or aggregation; what is left, outside keywords, is a metric name.
    """
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    found: list[tuple[str, list[str]]] = []
    for match in SELECTOR.finditer(text):
        name, braces = match.group(1), match.group(2)
        rest = text[match.end():].lstrip()
        if name in KEYWORDS or (rest.startswith("(") and not braces):
            continue
        if re.fullmatch(r"\d.*|e\d+", name) or text[max(0, match.start() - 1)].isdigit():
            continue  # a number such as 1e-9 or 0.95
        found.append((name, MATCHER.findall(braces or "")))
    return found


def dashboard_expressions() -> list[str]:
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in doc["panels"] for target in panel.get("targets", [])]
    for variable in doc["templating"]["list"]:
        if variable["type"] == "query":
            exprs.append(variable["definition"].removeprefix("label_values(").rstrip(")").split(",")[0])
    return exprs


def exported(client: FlaskClient) -> dict[str, set[str]]:
    """Sample name -> label names, as a scrape of /metrics shows them after some traffic."""
    for _ in range(2):
        enter(client)
    advance(client, 1)
    client.get(f"/events/{EVENT}/status")
    client.post("/assign_queue_num", json={"event_id": "nope"})
    samples: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True)):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    return samples


def test_the_selector_parser_finds_metrics_and_skips_functions() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{route="/x",le!="1"}[5m]))) '
            '/ clamp_min(sum(rate(b_total[5m])), 1e-9) and on (job) c')
    assert selectors(expr) == [("a_bucket", ["route", "le"]), ("b_total", []), ("c", [])]


def test_every_metric_and_label_the_dashboard_queries_is_exported(tmp_path: Path, clock: ManualClock) -> None:
    samples = exported(build_app(tmp_path, clock).test_client())
    queried = [s for expr in dashboard_expressions() for s in selectors(expr)]
    assert len({name for name, _ in queried}) >= 7, queried  # the parser found the dashboard's metrics
    missing = sorted({name for name, _ in queried if name not in samples})
    assert not missing, f"the dashboard queries metrics /metrics does not export: {missing}"
    for name, labels in queried:
        assert set(labels) <= samples[name], f"{name} has no label(s) {set(labels) - samples[name]}"
    for expr in dashboard_expressions():  # what a panel groups by exists on what it aggregates
        grouped = {label.strip() for group in re.findall(r"\bby\s*\(([^)]*)\)", expr) for label in group.split(",")}
        available = set().union(*(samples[name] for name, _ in selectors(expr)))
        assert grouped <= available, f"{expr}: no label(s) {grouped - available}"


def test_the_dashboard_is_importable_grafana_json() -> None:
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert doc["uid"] and doc["title"] and doc["schemaVersion"] >= 30
    ids = [panel["id"] for panel in doc["panels"]]
    assert len(ids) == len(set(ids))
    for panel in doc["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert all(target["refId"] and target["expr"] for target in panel["targets"])
