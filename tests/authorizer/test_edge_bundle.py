"""``waitingroom edge bundle``: the zip stays under Lambda@Edge's 1 MB and runs on a bare Python.

The unzipped bundle is run by the interpreter in isolated mode without ``site`` (``-I -S``): no
installed package, no project checkout on the path; only what the zip carries.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from authorizer.edge_bundle import MAX_ZIP_BYTES, ZIP_NAME
from authorizer.edge_config import EdgeConfig, EdgeConfigError
from core.tokens import KeySet, SigningKey
from tests.support import ServerProcess

from .cloudfront_events import CALLBACK, CLIENT, SITE_HOST, location, viewer_request
from .conftest import EVENT, tokens_over_http

ROOT = Path(__file__).resolve().parents[2]
COOKIE = "site_pass"

BARE_RUNNER = """
import json, sys
def peak_rss_kib():
    # VmHWM of this process image: getrusage's ru_maxrss survives exec, so a child forked from
    # a large test process would report that process's peak instead of the gate's own
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
sys.path.insert(0, sys.argv[1])  # as Lambda puts /var/task first
from authorizer.edge import handler
answers = [handler(event, None) for event in json.load(sys.stdin)]
print(json.dumps({
    "answers": answers,
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("jwt", "cryptography", "flask", "rsa",
                                                                     "pyasn1", "authorizer", "core")),
    "outside": sorted(getattr(m, "__file__", "") for m in list(sys.modules.values())
                      if getattr(m, "__file__", "") and "site-packages" in m.__file__),
    "max_rss_kib": peak_rss_kib(),
}))
"""


def write_config(path: Path, issuer: str, **extra: Any) -> Path:
    lines = ["[edge]", f'issuer = "{issuer}"', f'client_id = "{CLIENT}"', f'event_id = "{EVENT}"',
             f'cookie_name = "{COOKIE}"', f'callback_path = "{CALLBACK}"', 'unprotected_paths = ["/healthz"]']
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def bundle(config: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oidc_adaptor.cli", "edge", "bundle", "--config", str(config),
                           "--out", str(out), *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def run_bare(bundle_dir: Path, events: list[dict[str, Any]]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", BARE_RUNNER, str(bundle_dir)], input=json.dumps(events),
                          capture_output=True, text=True, timeout=60, cwd=bundle_dir)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_the_bundle_is_small_and_runs_on_a_bare_python(edge_room: ServerProcess, tmp_path: Path) -> None:
    config = write_config(tmp_path / "edge.toml", edge_room.base_url)
    built = bundle(config, tmp_path / "out")
    assert built.returncode == 0, built.stderr
    zip_path = tmp_path / "out" / ZIP_NAME
    size = zip_path.stat().st_size
    assert size < MAX_ZIP_BYTES
    assert f"{size} bytes" in built.stdout and "1 public key(s)" in built.stdout

    unpacked = tmp_path / "unzipped"
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        archive.extractall(unpacked)
    assert "authorizer/edge.py" in names and "rsa/pkcs1.py" in names and "rsa/LICENSE" in names
    assert not any(n.startswith(("oidc_adaptor/", "jwt/", "cryptography/")) for n in names)
    bundled = json.loads((unpacked / "authorizer" / "edge_config.json").read_text())
    assert bundled["issuer"] == edge_room.base_url and len(bundled["state_secret"]) >= 32
    assert [k["kty"] for k in bundled["keys"]["keys"]] == ["RSA"]

    token = tokens_over_http(edge_room)["access_token"]
    host = {"host": SITE_HOST}
    result = run_bare(unpacked, [viewer_request("/shop", "", **host), viewer_request("/shop", "", {COOKIE: token}),
                                 viewer_request("/healthz"), viewer_request("/shop", "", {COOKIE: token + "x"})])
    no_cookie, with_token, health, tampered = result["answers"]
    assert no_cookie["status"] == "302" and location(no_cookie).startswith(edge_room.base_url + "/authorize?")
    assert "status" not in with_token and with_token["uri"] == "/shop" and "cookie" not in with_token["headers"]
    assert health["uri"] == "/healthz"
    assert tampered["status"] == "302"
    assert result["outside"] == []  # nothing came from an installed package
    assert "rsa" in result["modules"] and not {"jwt", "cryptography", "flask", "pyasn1"} & set(result["modules"])
    assert result["max_rss_kib"] < 128 * 1024  # Lambda@Edge viewer-request functions get 128 MB


def test_a_bundle_without_keys_fetches_them_on_the_first_token(edge_room: ServerProcess, tmp_path: Path) -> None:
    config = write_config(tmp_path / "edge.toml", edge_room.base_url)
    built = bundle(config, tmp_path / "out", "--no-fetch-jwks")
    assert built.returncode == 0 and "0 public key(s)" in built.stdout, built.stderr
    unpacked = tmp_path / "unzipped"
    zipfile.ZipFile(tmp_path / "out" / ZIP_NAME).extractall(unpacked)
    token = tokens_over_http(edge_room)["access_token"]
    [answer] = run_bare(unpacked, [viewer_request("/", "", {COOKIE: token})])["answers"]
    assert "status" not in answer and answer["uri"] == "/"


def test_the_bundle_is_reproducible(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(KeySet([SigningKey.generate(0.0)]).jwks(0.0)))
    config = write_config(tmp_path / "edge.toml", "https://wait.example", state_secret="k" * 43)
    first, second = (bundle(config, tmp_path / name, "--jwks", str(jwks)) for name in ("a", "b"))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert (tmp_path / "a" / ZIP_NAME).read_bytes() == (tmp_path / "b" / ZIP_NAME).read_bytes()


def test_bad_configurations_are_refused_with_the_reason(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    missing.write_text('[edge]\nissuer = "https://wait.example"\n')
    answer = bundle(missing, tmp_path / "out", "--no-fetch-jwks")
    assert answer.returncode == 2 and "client_id" in answer.stderr and "Traceback" not in answer.stderr
    typo = write_config(tmp_path / "typo.toml", "https://wait.example", unprotected_path=["/x"])
    answer = bundle(typo, tmp_path / "out", "--no-fetch-jwks")
    assert answer.returncode == 2 and "unprotected_path" in answer.stderr
    unreachable = write_config(tmp_path / "edge.toml", "http://127.0.0.1:9")
    answer = bundle(unreachable, tmp_path / "out")
    assert answer.returncode == 2 and "--no-fetch-jwks" in answer.stderr
    assert not (tmp_path / "out" / ZIP_NAME).exists()


@pytest.mark.parametrize(("setting", "named"), [
    ({"unprotected_paths": "/healthz"}, "unprotected_paths must be a list"),
    ({"leeway": "30"}, "leeway must be a number"),
    ({"http_timeout": True}, "http_timeout must be a number"),
    # A fractional TTL made every sign-in cookie unreadable (its expiry is a whole number): no
    # sign-in could ever complete.
    ({"login_ttl": 1.5}, "login_ttl must be a whole number"),
])
def test_a_setting_of_the_wrong_type_is_refused_by_name(setting: dict[str, Any], named: str) -> None:
    values = {"issuer": "https://wait.example", "client_id": CLIENT, "event_id": EVENT, **setting}
    with pytest.raises(EdgeConfigError, match=named):
        EdgeConfig.from_mapping({"edge": values})
