"""cfn-lint on every synthesized template of every deployment shape.

Two warnings are about how CDK writes templates, not about what they deploy, and are left out:
W3005 (CDK states a function's dependency on its role both ways) and W3010 (CDK writes the
availability zones it looked up at synth time into the subnets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfnlint.api import ManualArgs, lint_file

IGNORED = ["W3005", "W3010"]


def test_cfn_lint_finds_nothing(every_variant: Any) -> None:
    templates = sorted(every_variant.outdir.glob("*.template.json"))
    assert len(templates) == len(every_variant.stacks)
    findings = []
    for path in templates:
        matches = lint_file(Path(path), config=ManualArgs(regions=["eu-west-1"], ignore_checks=IGNORED))
        findings.extend(f"{path.name}: {m}" for m in matches)
    assert findings == []
