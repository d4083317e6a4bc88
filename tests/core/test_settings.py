"""core/settings.py: the TOML file of DESIGN.md, WAITINGROOM_* environment variables, clear errors."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.model import Strategy
from core.settings import DEFAULT_STORE, Settings, SettingsError

DESIGN_EXAMPLE = """
[server]
issuer = "http://127.0.0.1:8080"
store = "sqlite:///var/lib/waitingroom/state.db"
admin_keys = ["change-me"]

[events.spring-sale]
name = "Spring ticket sale"
token_validity = 3600
queue_position_expiry = 900
incr_serving_on_expiry = true
admission = { strategy = "periodic", increment_by = 50, every = 10 }

[clients.shop]
event = "spring-sale"
secret = "a-long-random-secret"
redirect_uris = ["https://shop.example/oauth2/idpresponse"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waitingroom.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_design_example_loads(tmp_path: Path) -> None:
    settings = Settings.load(write(tmp_path, DESIGN_EXAMPLE), environ={})
    assert settings.server.store == "sqlite:///var/lib/waitingroom/state.db"
    assert settings.server.admin_keys == ("change-me",)
    event = settings.events["spring-sale"]
    assert (event.display_name, event.token_validity, event.queue_position_expiry) == ("Spring ticket sale", 3600, 900)
    assert event.incr_serving_on_expiry is True
    policy = event.admission
    assert (policy.strategy, policy.increment_by, policy.every) == (Strategy.PERIODIC, 50, 10)
    shop = settings.clients["shop"]
    assert (shop.event_id, shop.is_public, shop.redirect_uris) == (
        "spring-sale", False, ("https://shop.example/oauth2/idpresponse",))
    assert set(shop.auth_methods) == {"client_secret_basic", "client_secret_post"}
    assert settings.source.endswith("waitingroom.toml")


def test_defaults_without_a_file() -> None:
    settings = Settings.load(None, environ={})
    assert settings.server.store == DEFAULT_STORE and settings.events == {} and settings.source == "defaults"


def test_a_public_client_needs_no_secret(tmp_path: Path) -> None:
    text = DESIGN_EXAMPLE.replace('secret = "a-long-random-secret"\n', "")
    shop = Settings.load(write(tmp_path, text), environ={}).clients["shop"]
    assert shop.is_public and shop.auth_methods == ("none",)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    environ = {
        "WAITINGROOM_CONFIG": str(write(tmp_path, DESIGN_EXAMPLE)),
        "WAITINGROOM_STORE": "redis://127.0.0.1:6379/0",
        "WAITINGROOM_SERVER_ADMIN_KEYS": "one, two",
        "WAITINGROOM_STORE_TIMEOUT": "1.5",
        "WAITINGROOM_SCHEDULER": "false",
        "WAITINGROOM_EVENTS__SPRING_SALE__QUEUE_POSITION_EXPIRY": "0",
        "WAITINGROOM_EVENTS__SPRING_SALE__ADMISSION": '{ strategy = "max_active", max_active = 20, every = 5 }',
        "WAITINGROOM_CLIENTS__SHOP__REDIRECT_URIS": '["https://a.example/cb", "https://b.example/cb"]',
        "UNRELATED": "x",
    }
    settings = Settings.load(None, environ=environ)
    assert settings.server.store == "redis://127.0.0.1:6379/0"
    assert settings.server.admin_keys == ("one", "two")
    assert settings.server.store_timeout == 1.5 and settings.server.scheduler is False
    assert settings.events["spring-sale"].queue_position_expiry == 0
    assert settings.events["spring-sale"].token_validity == 3600  # the rest comes from the file
    sale = settings.events["spring-sale"].admission
    assert (sale.strategy, sale.max_active, sale.every) == (Strategy.MAX_ACTIVE, 20, 5)
    assert list(settings.events) == ["spring-sale"]
    assert settings.clients["shop"].redirect_uris == ("https://a.example/cb", "https://b.example/cb")


def test_with_server_ignores_none(tmp_path: Path) -> None:
    settings = Settings.load(write(tmp_path, DESIGN_EXAMPLE), environ={})
    assert settings.with_server(store=None) is settings
    assert settings.with_server(store="sqlite:///x.db", issuer=None).server.store == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"servr": {}}, "unknown section"),
        ({"server": {"port": 1}}, "unknown \\[server\\] key"),
        ({"server": {"admin_keys": [1, 2]}}, "list of strings"),
        ({"server": {"scheduler": "yes"}}, "true or false"),
        ({"server": {"store_timeout": "fast"}}, "must be a number"),
        ({"server": {"store_timeout": True}}, "must be a number"),
        ({"server": {"store": 5}}, "must be a string"),
        ({"server": {"issuer": "ftp://x"}}, "issuer"),
        ({"server": {"issuer": "https://x/"}}, "trailing slash"),
        ({"server": {"admin_prefix": "admin"}}, "admin_prefix"),
        ({"events": {"e": {"colour": "red"}}}, "unknown key"),
        ({"events": {"e": {"token_validity": 0}}}, "token_validity"),
        ({"events": {"e": {"queue_position_expiry": -1}}}, "queue_position_expiry"),
        ({"events": {"e": {"token_validity": "long"}}}, "events.e"),
        ({"events": {"e": {"admission": {"strategy": "lottery"}}}}, "events.e"),
        ({"events": {"e": {"admission": {"strategy": "periodic"}}}}, "increment_by"),
        ({"events": {"e": {"admission": {"strategy": "periodic", "increment_by": 1, "rate": 2}}}}, "events.e"),
        ({"events": {"bad id!": {}}}, "invalid event id"),
        ({"events": ["e"]}, "table of tables"),
        ({"events": {"e": {}}, "clients": {"c": {"event": "f", "redirect_uris": ["https://x"]}}}, "not defined"),
        ({"events": {"e": {}}, "clients": {"c": {"event": "e", "redirect_uris": []}}}, "redirect_uris"),
        ({"events": {"e": {}}, "clients": {"c": {"event": "e", "redirect_uris": ["x"], "scope": "a"}}}, "unknown key"),
    ],
)
def test_invalid_settings_say_what_is_wrong(data: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_mapping(data)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        Settings.load(tmp_path / "missing.toml", environ={})
    with pytest.raises(SettingsError, match="not valid TOML"):
        Settings.load(write(tmp_path, "[server\nstore ="), environ={})


def test_environment_reaches_events_whose_ids_have_capitals(tmp_path: Path) -> None:
    path = write(tmp_path, '[events.Spring-Sale]\nname = "Spring"\n')
    settings = Settings.load(path, environ={"WAITINGROOM_EVENTS__SPRING-SALE__TOKEN_VALIDITY": "60"})
    assert list(settings.events) == ["Spring-Sale"]
    assert settings.events["Spring-Sale"].token_validity == 60


def test_every_event_and_client_has_a_name_a_shell_can_export(tmp_path: Path) -> None:
    path = write(tmp_path, DESIGN_EXAMPLE)
    script = ("export WAITINGROOM_EVENTS__SPRING_SALE__TOKEN_VALIDITY=600 WAITINGROOM_CLIENTS__SHOP__TOKEN_LIFETIME=60"
              " && env")
    shell = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True, env={})
    environ = dict(line.split("=", 1) for line in shell.stdout.splitlines() if line.startswith("WAITINGROOM_"))
    settings = Settings.load(path, environ=environ)
    assert settings.events["spring-sale"].token_validity == 600
    assert settings.clients["shop"].token_lifetime == 60
    assert list(settings.events) == ["spring-sale"]


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("WAITINGROOM_EVENTS__SPRING_SALES__TOKEN_VALIDITY", "names event 'SPRING_SALES', which the configuration "
         "does not define \\(defined, as spelt in variable names: SPRING_SALE\\)"),
        ("WAITINGROOM_CLIENTS__SHOPP__TOKEN_LIFETIME", "names client 'SHOPP', which the configuration "
         "does not define \\(defined, as spelt in variable names: SHOP\\)"),
    ],
)
def test_a_variable_naming_an_undefined_event_or_client_is_an_error(tmp_path: Path, variable: str,
                                                                    message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.load(write(tmp_path, DESIGN_EXAMPLE), environ={variable: "60"})


def test_two_ids_spelt_alike_in_variable_names_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[events.a-b]\n[events.a_b]\n")
    with pytest.raises(SettingsError, match="could mean events a-b, a_b"):
        Settings.load(path, environ={"WAITINGROOM_EVENTS__A_B__TOKEN_VALIDITY": "60"})


def test_a_quoted_boolean_is_not_silently_true() -> None:
    with pytest.raises(SettingsError, match="true or false"):
        Settings.from_mapping({"events": {"e": {"incr_serving_on_expiry": "false"}}})
    settings = Settings.from_mapping({"events": {"e": {"incr_serving_on_expiry": False}}})
    assert settings.events["e"].incr_serving_on_expiry is False


@pytest.mark.parametrize(
    "value",
    ["2026-03-01T09:00:00Z", '"2026-03-01T09:00:00Z"', '"2026-03-01T10:00:00+01:00"', "1772355600"],
)
def test_admission_window_takes_toml_date_times_iso_strings_or_seconds(tmp_path: Path, value: str) -> None:
    text = DESIGN_EXAMPLE.replace(
        'admission = { strategy = "periodic", increment_by = 50, every = 10 }',
        f'admission = {{ strategy = "periodic", increment_by = 50, every = 10, start_at = {value} }}',
    )
    policy = Settings.load(write(tmp_path, text), environ={}).events["spring-sale"].admission
    assert policy.start_at == 1772355600.0  # 2026-03-01T09:00:00Z


@pytest.mark.parametrize("value", ["2026-03-01T09:00:00", '"next tuesday"', "true"])
def test_admission_window_without_offset_or_unparsable_is_refused(tmp_path: Path, value: str) -> None:
    text = DESIGN_EXAMPLE.replace(
        'admission = { strategy = "periodic", increment_by = 50, every = 10 }',
        f'admission = {{ strategy = "periodic", increment_by = 50, every = 10, end_at = {value} }}',
    )
    with pytest.raises(SettingsError, match="end_at"):
        Settings.load(write(tmp_path, text), environ={})


@pytest.mark.parametrize("value", [-1, 61, 1.5])
def test_status_max_age_is_a_whole_number_of_seconds_up_to_a_minute(value: float) -> None:
    with pytest.raises(SettingsError, match="status_max_age"):
        Settings.from_mapping({"server": {"status_max_age": value}})
    assert Settings.from_mapping({"server": {"status_max_age": 0}}).server.status_max_age == 0
