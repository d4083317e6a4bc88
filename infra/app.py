#!/usr/bin/env python3
"""CDK entry point: ``cdk synth`` / ``cdk deploy`` (run from this directory), or ``python app.py``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project packages (config validation)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import aws_cdk as cdk
from waitingroom_infra.application import build

app = cdk.App()
build(app)
app.synth()
