"""Deployment settings are checked at synth by the functions' own code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from waitingroom_infra.config import DeployConfig

from core.settings import SettingsError

from .conftest import ROOT, function_settings, template

EVENTS = {"sale": {"admission": {"strategy": "manual"}}}


def test_the_example_file_is_a_configuration_the_functions_accept(tmp_path: Path) -> None:
    config = DeployConfig.load({"config": str(ROOT / "infra" / "deploy.example.toml")}, tmp_path)
    assert config.clients["shop"]["redirect_uris"] == ["https://shop.example/oauth2/idpresponse"]
    assert config.server["trusted_proxies"] == 0


@pytest.mark.parametrize(("client", "message"), [
    ({"secret_hash": ""}, "secret_hash is not a valid"),
    ({"secret": "short"}, "secret must be at least 16"),
    ({"redirect_uris": ["http://shop.example/cb"]}, "redirect"),
    ({"auth_methods": ["client_secret_basic"]}, "public client"),
])
def test_a_client_the_app_would_refuse_fails_synth(client: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        DeployConfig(events=EVENTS, clients={"shop": {"event": "sale", "redirect_uris": ["https://shop.example/cb"],
                                                      **client}})


def test_server_keys_are_checked_and_the_deployment_owned_ones_refused() -> None:
    with pytest.raises(SettingsError, match=r"invalid rate .lots."):
        DeployConfig(events=EVENTS, server={"enter_rate_limit": "lots"})
    with pytest.raises(SettingsError, match="unknown"):
        DeployConfig(events=EVENTS, server={"no_such_key": 1})
    with pytest.raises(SettingsError, match=r"\[server\] store cannot be set on AWS: .*\[deploy\] store"):
        DeployConfig(events=EVENTS, server={"store": "redis://elsewhere:6379/0"})
    with pytest.raises(SettingsError, match="admin_keys cannot be set on AWS"):
        DeployConfig(events=EVENTS, server={"admin_keys": ["k" * 40]})


def test_server_keys_reach_every_function(built: Any) -> None:
    functions = template(built.api).find_resources("AWS::Lambda::Function")
    for function in functions.values():
        env = function["Properties"]["Environment"]["Variables"]
        if "WAITINGROOM_SETTINGS_JSON" not in env:
            continue
        server = function_settings(function)["server"]
        assert server["cors_origins"] == ["https://tickets.example"]
        assert server["enter_rate_limit"] == "20/minute"
        assert server["json_logs"] is True


def test_vpc_egress_is_a_choice_and_nat_gateways_is_gone(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="vpc_egress"):
        DeployConfig(events=EVENTS, vpc_egress="internet")
    old = tmp_path / "deploy.toml"
    old.write_text("[deploy]\nnat_gateways = 1\n")
    with pytest.raises(ValueError, match="replaced by vpc_egress"):
        DeployConfig.load({"config": str(old)}, tmp_path)


def test_the_sample_site_client_id_is_the_deployment_s_own(tmp_path: Path) -> None:
    import aws_cdk as cdk
    from waitingroom_infra.application import build

    taken = DeployConfig(events=EVENTS, clients={"sample-site": {"event": "sale",
                                                                 "redirect_uris": ["https://shop.example/cb"]}})
    with pytest.raises(ValueError, match=r"\[clients.sample-site\] is the deployment's own client"):
        build(cdk.App(outdir=str(tmp_path)), asset_dir=tmp_path, config=taken, run_nag=False)
