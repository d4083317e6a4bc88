"""cdk-nag: every acknowledgement answers a finding that exists."""

from __future__ import annotations

import json
from typing import Any

import pytest
from waitingroom_infra.nag import STACK_SUPPRESSIONS

from .conftest import VARIANTS, synthesized


def acknowledged_findings(built: Any) -> set[str]:
    report = json.loads((built.outdir / "validation-report.json").read_text())
    (plugin,) = report["pluginReports"]
    assert plugin["violations"] == []  # nothing unacknowledged (synth would have failed)
    return {violation["ruleName"] for violation in plugin["suppressedViolations"]}


def test_no_acknowledgement_is_left_without_a_finding(tmp_path_factory: pytest.TempPathFactory) -> None:
    found: set[str] = set()
    for name in VARIANTS:
        found |= acknowledged_findings(synthesized(name, tmp_path_factory))
    unused = {rule for rule, _reason in STACK_SUPPRESSIONS} - found
    assert not unused, f"acknowledged but never found: {sorted(unused)}"
    assert ("AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-123456789012-eu-west-1/*]"
            in found)
    assert "AwsSolutions-AEC4" in found  # the one-node cache of the direct-entry variant, acknowledged on it alone
