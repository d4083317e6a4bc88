"""Operator messages as the domain keeps them: validation, expiry, and what a damaged record gives."""

from __future__ import annotations

import pytest

from core.errors import InvalidArgument
from core.messages import MAX_MESSAGE_LENGTH, OperatorMessage, shown, validated

NOW = 1_800_000_000.0


def test_a_message_round_trips_through_its_stored_form() -> None:
    message = OperatorMessage("Hall B — ドア", NOW + 60)
    assert OperatorMessage.decode(message.encode()) == message
    assert OperatorMessage.decode(OperatorMessage("x").encode()) == OperatorMessage("x", None)


@pytest.mark.parametrize("raw", [None, "", "{", "[]", '{"text": 5}', '{"text": ""}', '{"expires_at": 1}',
                                 '{"text": "x", "expires_at": "soon"}', '{"text": "x", "expires_at": true}'])
def test_a_damaged_record_shows_no_message(raw: str | None) -> None:
    assert OperatorMessage.decode(raw) is None


def test_a_message_is_shown_until_it_expires() -> None:
    message = OperatorMessage("x", NOW + 10)
    assert shown(message, NOW + 9.9) is message
    assert shown(message, NOW + 10) is None
    assert shown(OperatorMessage("x"), NOW + 10**6) is not None
    assert shown(None, NOW) is None


def test_validation_trims_clears_and_refuses() -> None:
    assert validated(" a\n\tb ", None, NOW) == OperatorMessage("a b", None)
    assert validated(" \n ", NOW + 5, NOW) is None  # empty clears, whatever the expiry
    assert validated("x" * MAX_MESSAGE_LENGTH, None, NOW) is not None
    for text, expires_at in (("x" * (MAX_MESSAGE_LENGTH + 1), None), ("a\x00b", None), ("a", NOW), ("a", NOW - 1),
                             ("a", NOW + 400 * 86400)):
        with pytest.raises(InvalidArgument):
            validated(text, expires_at, NOW)
