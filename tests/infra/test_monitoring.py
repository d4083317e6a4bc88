"""Alarms, the dashboard and reserved concurrency."""

from __future__ import annotations

import json
import re
from typing import Any

from .conftest import template


def alarms(t: Any) -> list[dict[str, Any]]:
    return [a["Properties"] for a in t.find_resources("AWS::CloudWatch::Alarm").values()]


def functions(t: Any) -> dict[str, dict[str, Any]]:
    return {f["Properties"]["Handler"].rsplit(".", 1)[-1]: f["Properties"]
            for f in t.find_resources("AWS::Lambda::Function").values()}


def metric_names(alarm: dict[str, Any]) -> set[str]:
    if "MetricName" in alarm:
        return {alarm["MetricName"]}
    return {m["MetricStat"]["Metric"]["MetricName"] for m in alarm.get("Metrics", []) if "MetricStat" in m}


def test_every_alarm_notifies_the_topic(every_variant: Any) -> None:
    for stack in (every_variant.stateful, every_variant.api):
        for alarm in alarms(template(stack)):
            assert re.search(r"Alarms?Topic", json.dumps(alarm["AlarmActions"])), alarm["AlarmDescription"]


def test_alarms_watch_the_line_the_api_and_the_store(built: Any, built_dynamodb: Any) -> None:
    t = template(built.api)
    found = alarms(t)
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for alarm in found:
        for name in metric_names(alarm):
            by_metric.setdefault(name, []).append(alarm)
    admission = next(f for f in t.find_resources("AWS::Lambda::Function") if f.startswith("FunctionsAdmission"))
    watched = [a for a in by_metric["Errors"] + by_metric["Throttles"]
               if admission in json.dumps(a["Dimensions"])]
    assert len(watched) == 2 and all(a["Threshold"] == 0 for a in watched)  # any admission error or throttle
    assert len(by_metric["Throttles"]) == 3  # admission, expiry, consumer
    assert len(by_metric["Errors"]) == 7  # every function
    assert {"5XXError", "Latency", "ApproximateNumberOfMessagesVisible"} <= set(by_metric)
    memory = by_metric["DatabaseMemoryUsagePercentage"]
    assert len(memory) == 2 and len(by_metric["Evictions"]) == 2  # primary and replica
    assert {json.dumps(a["Dimensions"][0]["Value"]).split("-")[-1] for a in memory} == {'001"]]}', '002"]]}'}
    assert "ReadThrottleEvents" not in by_metric
    ddb = {name for alarm in alarms(template(built_dynamodb.api)) for name in metric_names(alarm)}
    assert {"ReadThrottleEvents", "WriteThrottleEvents"} <= ddb and "DatabaseMemoryUsagePercentage" not in ddb
    t.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    body = json.dumps(next(iter(t.find_resources("AWS::CloudWatch::Dashboard").values())))
    for metric in ("Waiting", "ServingCounter", "DatabaseMemoryUsagePercentage", "5XXError", "Throttles"):
        assert metric in body


def test_the_functions_that_move_the_line_have_reserved_concurrency(built: Any) -> None:
    found = functions(template(built.api))
    assert found["admission_handler"]["ReservedConcurrentExecutions"] == 2
    assert found["expiry_handler"]["ReservedConcurrentExecutions"] == 2
    assert found["sqs_handler"]["ReservedConcurrentExecutions"] == 20  # as many as the event source runs
    assert "ReservedConcurrentExecutions" not in found["key_rotation_handler"]
    public = [f for name, f in found.items() if name == "http_handler"]
    assert all("ReservedConcurrentExecutions" not in f for f in public)
