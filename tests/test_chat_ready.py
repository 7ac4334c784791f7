"""The interactive-start benchmark drives a real `assistant chat` in a pseudo-terminal: the
prompt appears, "hi" is answered, and /quit ends it (no timing is asserted)."""

from __future__ import annotations

import pytest

from benchmarks.chat_ready import one_start

pytestmark = pytest.mark.slow


def test_an_interactive_chat_shows_its_prompt_answers_and_quits() -> None:
    prompt_s, reply_s = one_start()
    assert prompt_s > 0 and reply_s > 0
