"""The waiting benchmark's visitors follow the page: the same estimate as the server's first render."""

from __future__ import annotations

import pytest

from bench.waiting import estimate_wait
from oidc_adaptor.oidc.waiting import estimate_wait as page_estimate


@pytest.mark.parametrize(("ahead", "rate"), [(0, 0.0), (0, 5.0), (10, 0.1), (999, 2.5), (50_000, 40.0)])
def test_the_simulated_page_estimates_as_the_server_does(ahead: int, rate: float) -> None:
    server = page_estimate(ahead, rate)
    assert estimate_wait(ahead, rate) == (None if server is None else (server.low_minutes, server.high_minutes))
