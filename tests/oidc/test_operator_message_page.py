"""The waiting page carries the operator's message from its first render, as text."""

from __future__ import annotations

from flask import Flask

from oidc_adaptor.plumbing import counter_cache

from .conftest import Flow
from .helpers import EVENT


def test_the_first_render_shows_the_message_as_text_not_markup(app: Flask) -> None:
    flow = Flow(app)
    page = flow.authorize().get_data(as_text=True)
    assert 'id="wr-message-box" class="wr-message" hidden' in page  # no message: the box is hidden
    flow.room.set_message(EVENT, "<script>alert(1)</script> & Hall B", None)
    counter_cache.for_app(app).counters_changed(EVENT)  # as the admin API does
    page = Flow(app).authorize().get_data(as_text=True)
    shown = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Hall B"
    assert f'<p id="wr-message" role="status" aria-live="polite">{shown}</p>' in page
    assert 'class="wr-message" hidden' not in page
    assert "<script>alert" not in page
