"""Build the CloudFront gate's Lambda@Edge package: ``waitingroom edge bundle``.

The zip holds exactly what :func:`authorizer.edge.handler` imports (the gate's modules, the claim
rules of :mod:`core.token_rules`, and the ``rsa`` package copied from its installed
distribution, with its licence) plus ``authorizer/edge_config.json``: the configuration, the
sign-in cookie's HMAC key and, when available, the issuer's JWKS. Nothing else is needed at run
time, so the package runs on a bare Python and stays far below Lambda@Edge's 1 MB limit for
viewer-request functions (:data:`MAX_ZIP_BYTES`; :func:`build` refuses to write a larger one).

The zip is reproducible: entries are sorted and carry a fixed timestamp, so the same sources and
configuration (with ``state_secret`` given) give the same bytes, and the same CDK asset hash.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .edge_config import BUNDLED_FILE, EdgeConfig
from .jwks import JwksError, StaticJwks, fetch_json, usable_keys

MAX_ZIP_BYTES = 1024 * 1024
"""Lambda@Edge quota: a viewer-request function's package is at most 1 MB zipped."""
ZIP_NAME = "waitingroom-edge.zip"
HANDLER = "authorizer.edge.handler"
PROJECT = Path(__file__).resolve().parents[1]
MODULES = (
    "authorizer/__init__.py",
    "authorizer/cookies.py",
    "authorizer/edge.py",
    "authorizer/edge_config.py",
    "authorizer/edge_login.py",
    "authorizer/edge_verifier.py",
    "authorizer/http.py",
    "authorizer/jwks.py",
    "core/__init__.py",
    "core/token_rules.py",
)
"""The project files the gate imports: every one is standard library only, apart from ``rsa``."""
VENDORED = ("rsa",)
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class BundleError(Exception):
    """The bundle cannot be built; the message says why and what to do."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    size: int
    """Bytes of the zip file."""
    keys: int
    """Public keys bundled (0: the gate fetches the JWKS on its first request)."""


def build(config: EdgeConfig, out_dir: str | Path, *, jwks: dict[str, Any] | None = None,
          fetch_jwks: bool = False) -> Bundle:
    """Write ``out_dir/waitingroom-edge.zip`` for ``config``; returns where and how big.

    ``jwks``: the issuer's JWKS document to bundle; ``fetch_jwks`` fetches it from
    ``config.jwks_uri`` instead (raises BundleError when unreachable). A missing ``state_secret``
    is generated (256 bits). Raises BundleError if the zip would exceed :data:`MAX_ZIP_BYTES`.
    """
    if fetch_jwks and jwks is None:
        try:
            jwks = fetch_json(config.jwks_uri, config.http_timeout)
        except JwksError as exc:
            raise BundleError(f"cannot fetch the issuer's keys: {exc} (give --jwks FILE, or --no-fetch-jwks "
                              "to let the gate fetch them on its first request)") from None
    if jwks is not None:
        try:
            keys = usable_keys(jwks)
        except JwksError as exc:
            raise BundleError(str(exc)) from None
        config = dataclasses.replace(config, keys={"keys": list(keys.values())})
    if not config.state_secret:
        config = dataclasses.replace(config, state_secret=secrets.token_urlsafe(32))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / ZIP_NAME
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in sorted(_entries(config).items()):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    size = partial.stat().st_size
    if size > MAX_ZIP_BYTES:
        partial.unlink()
        raise BundleError(f"the bundle would be {size} bytes; Lambda@Edge allows {MAX_ZIP_BYTES} for viewer requests")
    partial.replace(target)
    return Bundle(target, size, len(config.keys.get("keys", [])))


def load_jwks(path: str | Path) -> dict[str, Any]:
    """A JWKS document from a file (as ``waitingroom`` serves it at ``/.well-known/jwks.json``)."""
    try:
        return {"keys": list(StaticJwks.from_file(path).keys().values())}
    except JwksError as exc:
        raise BundleError(str(exc)) from None


def _entries(config: EdgeConfig) -> dict[str, bytes]:
    entries = {name: (PROJECT / name).read_bytes() for name in MODULES}
    entries[f"authorizer/{BUNDLED_FILE}"] = config.to_json().encode()
    for package in VENDORED:
        entries.update(_vendored(package))
    return entries


def _vendored(package: str) -> dict[str, bytes]:
    """The Python files and licence of an installed distribution, as they are on this machine."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise BundleError(f"the {package!r} package is not installed (pip install waitingroom)") from None
    files: dict[str, bytes] = {}
    for file in dist.files or ():
        parts = Path(str(file)).parts
        if parts[0] == package and file.name.endswith(".py") and "__pycache__" not in parts:
            files[str(file)] = Path(str(dist.locate_file(file))).read_bytes()
        elif parts[0].endswith(".dist-info") and file.name.upper().startswith(("LICENSE", "LICENCE", "COPYING")):
            files[f"{package}/{file.name}"] = Path(str(dist.locate_file(file))).read_bytes()
    if f"{package}/__init__.py" not in files:
        raise BundleError(f"the installed {package!r} distribution holds no {package}/__init__.py")
    return files
