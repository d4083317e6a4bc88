"""Compile the visitor pages' gettext catalogs: every oidc_adaptor/translations/*/LC_MESSAGES/messages.po
becomes the messages.mo beside it (Flask-Babel reads those). Run after editing a .po file; the
tests fail while a .mo is older than its .po.

Usage: python scripts/compile_translations.py
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parents[1] / "oidc_adaptor" / "translations"


def compiled(po_path: Path) -> bytes:
    """The .mo bytes of one catalog (fuzzy entries left out, as msgfmt does)."""
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=po_path.parents[1].name)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def main() -> int:
    for po_path in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        po_path.with_suffix(".mo").write_bytes(compiled(po_path))
        print(f"compiled {po_path.relative_to(TRANSLATIONS.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
