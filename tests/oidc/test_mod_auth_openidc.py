"""Apache httpd + mod_auth_openidc in front of a page, with the waiting room as its OpenID provider.

The test writes its own httpd configuration (no system config is read), starts ``apache2 -X``
on a free loopback port, and drives a visitor through: protected page -> waiting page -> admitted
by an admin API call -> back through mod_auth_openidc -> the page, which prints the claims. It
runs in both response modes mod_auth_openidc offers: ``query`` (its default for the code flow)
and ``form_post`` (the visitor's browser posts the provider's form, as its button does).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from pathlib import Path

import pytest
import requests

from tests.support import free_port, wait_for_port

from .helpers import EVENT, check_again_url, live_provider

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")
SECRET = "apache-client-secret-long-enough"

pytestmark = [pytest.mark.slow]


def test_apache_and_mod_auth_openidc_are_installed() -> None:
    """scripts/test.sh installs them; without them the flow below could not run at all."""
    assert Path(APACHE).exists(), "apache2 is missing"
    assert (MODULES / "mod_auth_openidc.so").exists(), "libapache2-mod-auth-openidc is missing"

CLAIMS_CGI = """#!/usr/bin/python3
import json, os
claims = {k[len("OIDC_CLAIM_"):]: v for k, v in os.environ.items() if k.startswith("OIDC_CLAIM_")}
print("Content-Type: application/json")
print()
print(json.dumps({"remote_user": os.environ.get("REMOTE_USER"), "claims": claims}))
"""


def httpd_conf(root: Path, port: int, issuer: str, response_mode: str, extra: str = "") -> str:
    user = "User nobody\nGroup nogroup\n" if os.geteuid() == 0 else ""
    return f"""
ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/httpd.pid"
ErrorLog "{root}/error.log"
LogLevel warn auth_openidc:info
{user}
LoadModule mpm_prefork_module {MODULES}/mod_mpm_prefork.so
LoadModule authn_core_module {MODULES}/mod_authn_core.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule authz_user_module {MODULES}/mod_authz_user.so
LoadModule alias_module {MODULES}/mod_alias.so
LoadModule cgi_module {MODULES}/mod_cgi.so
LoadModule auth_openidc_module {MODULES}/mod_auth_openidc.so

DocumentRoot "{root}/htdocs"

OIDCProviderMetadataURL {issuer}/.well-known/openid-configuration
OIDCClientID apache
OIDCClientSecret {SECRET}
OIDCRedirectURI http://127.0.0.1:{port}/protected/redirect_uri
OIDCCryptoPassphrase test-passphrase-not-secret
OIDCScope "openid"
OIDCPKCEMethod S256
OIDCProviderTokenEndpointAuth client_secret_basic
OIDCPassClaimsAs environment
OIDCStateTimeout 3600
OIDCSessionInactivityTimeout 3600
OIDCResponseMode {response_mode}
OIDCDefaultURL http://127.0.0.1:{port}/protected/claims
{extra}

ScriptAlias /protected/claims "{root}/cgi/claims"
<Location /protected>
    AuthType openid-connect
    Require valid-user
</Location>
"""


@contextmanager
def apache(port: int, issuer: str, response_mode: str = "query", extra: str = "") -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="wr-httpd-"))
    try:
        root.chmod(0o755)
        (root / "htdocs").mkdir(mode=0o755)
        (root / "cgi").mkdir(mode=0o755)
        script = root / "cgi" / "claims"
        script.write_text(CLAIMS_CGI)
        script.chmod(0o755)
        conf = root / "httpd.conf"
        conf.write_text(httpd_conf(root, port, issuer, response_mode, extra))
        check = subprocess.run([APACHE, "-t", "-f", str(conf)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stderr
        proc = subprocess.Popen([APACHE, "-X", "-f", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(port)
            yield root
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def post_form(visitor: requests.Session, page: requests.Response) -> requests.Response:
    """Submit a form_post page the way its button (or its script) does."""
    action = re.search(r'<form id="wr-form-post" method="post" action="([^"]+)">', page.text)
    assert action, page.text[:500]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    return visitor.post(unescape(action.group(1)), data={k: unescape(v) for k, v in fields.items()}, timeout=15)


@pytest.mark.parametrize("response_mode", ["query", "form_post"])
def test_mod_auth_openidc_visitor_waits_is_admitted_and_reaches_the_page(tmp_path: Path, response_mode: str) -> None:
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/protected/redirect_uri"
    clients = {"apache": {"event": EVENT, "secret": SECRET, "redirect_uris": [redirect]}}
    with live_provider(tmp_path, clients) as provider, apache(port, provider.url, response_mode) as root:
        protected = f"http://127.0.0.1:{port}/protected/claims"
        visitor = requests.Session()
        page = visitor.get(protected, timeout=15)
        assert page.url.startswith(f"{provider.url}/authorize"), (page.status_code, page.text[:500])
        assert "Your place in line" in page.text

        again = visitor.get(check_again_url(page.text, page.url), timeout=15)
        assert "Your place in line" in again.text  # still waiting: nobody admitted yet

        provider.admit(1)
        done = visitor.get(check_again_url(again.text, again.url), timeout=15)
        if response_mode == "form_post":
            assert done.url.startswith(f"{provider.url}/authorize") and "wr-form-post" in done.text
            done = post_form(visitor, done)
        log = (root / "error.log").read_text() if (root / "error.log").exists() else ""
        assert done.status_code == 200 and done.url == protected, (done.status_code, done.text[:500], log[-2000:])
        body = json.loads(done.text)
        claims = body["claims"]
        assert claims["iss"] == provider.url and claims["aud"] == "apache"
        assert claims["event_id"] == EVENT and claims["queue_position"] == "1"
        assert claims["sub"].startswith("t_") and body["remote_user"]

        # The session cookie of mod_auth_openidc now carries the visitor; no new place in line.
        assert visitor.get(protected, timeout=15).json()["claims"]["sub"] == claims["sub"]
        assert provider.room.counters(EVENT).last_position == 1


def test_an_error_redirect_with_iss_starts_a_new_sign_in_with_oidc_default_url(tmp_path: Path) -> None:
    """mod_auth_openidc 2.4.12 reads an error redirect carrying RFC 9207's ``iss`` as a
    third-party-initiated login; with ``OIDCDefaultURL`` set (as the README says) that sends the
    visitor back to the provider instead of an error page."""
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/protected/redirect_uri"
    clients = {"apache": {"event": EVENT, "secret": SECRET, "redirect_uris": [redirect]}}
    with live_provider(tmp_path, clients) as provider, apache(port, provider.url):
        error = requests.get(redirect, params={"error": "login_required", "state": "s", "iss": provider.url},
                             allow_redirects=False, timeout=15)
        assert error.status_code == 302, error.text[:500]
        assert error.headers["Location"].startswith(f"{provider.url}/authorize?")


IAT_SLACK = 5
"""Seconds mod_auth_openidc accepts between an id token's ``iat`` and its own clock in the test
below (600 by default): room enough for one token request on a loaded machine."""


def test_signing_in_again_after_the_site_session_ended_gets_a_fresh_id_token(tmp_path: Path) -> None:
    """The site's session cookie is gone (browser restart, inactivity timeout): the admitted
    visitor goes through the waiting room again and gets in at once, because the new id token is
    issued now, not when the visitor first signed in (mod_auth_openidc refuses an old ``iat``)."""
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/protected/redirect_uri"
    clients = {"apache": {"event": EVENT, "secret": SECRET, "redirect_uris": [redirect]}}
    extra = f"OIDCIDTokenIatSlack {IAT_SLACK}"
    with live_provider(tmp_path, clients) as provider, apache(port, provider.url, extra=extra) as root:
        protected = f"http://127.0.0.1:{port}/protected/claims"
        visitor = requests.Session()
        page = visitor.get(protected, timeout=15)
        provider.admit(1)
        first = visitor.get(check_again_url(page.text, page.url), timeout=15)
        assert first.status_code == 200 and first.url == protected, first.text[:500]
        sub = first.json()["claims"]["sub"]

        time.sleep(IAT_SLACK + 2)  # the first id token is now too old for mod_auth_openidc
        for name in [c.name for c in visitor.cookies if c.name.startswith("mod_auth_openidc")]:
            visitor.cookies.set(name, None)  # the site's session is gone; the waiting room's cookie stays
        again = visitor.get(protected, timeout=15)
        log = (root / "error.log").read_text() if (root / "error.log").exists() else ""
        assert again.status_code == 200 and again.url == protected, (again.status_code, again.text[:300], log[-1500:])
        assert again.json()["claims"]["sub"] == sub  # the same place and session
        assert provider.room.counters(EVENT).last_position == 1
