"""The README's configuration example is the documentation users copy: it must load as written."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from core.model import Strategy
from core.settings import ServerSettings, Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def _toml_blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_configuration_example_loads() -> None:
    (example,) = _toml_blocks()
    settings = Settings.from_mapping(tomllib.loads(example))
    assert settings.events["spring-sale"].admission.strategy is Strategy.PERIODIC
    assert settings.events["exam-signup"].admission.max_active == 500
    assert settings.clients["shop"].event_id == "spring-sale"
    assert settings.event_admin_keys["spring-sale"] == ("sale-team-key",)


def test_the_readme_documents_every_server_key() -> None:
    (example,) = _toml_blocks()
    documented = set(tomllib.loads(example)["server"])
    assert documented == set(ServerSettings.__dataclass_fields__)
