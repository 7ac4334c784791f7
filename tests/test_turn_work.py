"""One typed turn through the default text pipeline does each expensive piece of work once: the
guard, the intents and the sentiment share one sentence encoding of the user's words, and
personal data is looked for once per text (the tracker does not scan again what the guard
redacted, the filter what the tracker scanned)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from assistant.config import DEFAULT_MODELS, load_models, load_pipeline
from assistant.core.runner import Pipeline
from assistant.nlu.embedder import OnnxSentenceEncoder
from assistant.pipeline import plan_pipeline
from assistant.safety.pii import SharedAnalyzer
from assistant.session import TextSession, TurnRecord

ROOT = Path(__file__).resolve().parents[1]


def one_turn(text: str) -> TurnRecord:
    path = ROOT / "pipelines" / "text.yaml"
    # The default sentiment, the MiniLM classifier, is a third reader of the same encoding.
    plan = plan_pipeline(load_pipeline(path), path, load_models(DEFAULT_MODELS), DEFAULT_MODELS, {})

    async def scenario() -> TurnRecord:
        async with Pipeline(plan) as pipeline:
            session = TextSession(pipeline)
            await session.begin()
            return await session.say(text)

    return asyncio.run(scenario())


def test_a_turn_encodes_and_scans_each_text_once(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded: Counter[str] = Counter()
    scanned: Counter[str] = Counter()
    encode_batch = OnnxSentenceEncoder._encode_batch
    analyze = SharedAnalyzer.analyze

    def counted_encode(self: OnnxSentenceEncoder, texts: list[str]) -> Any:
        encoded.update(texts)
        return encode_batch(self, texts)

    def counted_analyze(self: SharedAnalyzer, text: str, *args: Any) -> Any:
        scanned[text] += 1
        return analyze(self, text, *args)

    monkeypatch.setattr(OnnxSentenceEncoder, "_encode_batch", counted_encode)
    monkeypatch.setattr(SharedAnalyzer, "analyze", counted_analyze)
    said = "add oat milk to my shopping list, my card is 4111 1111 1111 1111"
    record = one_turn(said)

    redacted = record.input_text
    assert redacted is not None and "[card number]" in redacted and "4111" not in redacted
    assert record.parse is not None and record.parse.intent.name == "add_to_list"
    assert scanned[said] == 1 and scanned[redacted] == 0  # guard; the tracker trusts it
    assert all(count == 1 for count in scanned.values()), scanned  # the reply: tracker, filter
    assert record.to_json()["sentiment"] is not None  # the sentiment stage read this turn
    assert encoded[redacted] == 1, encoded  # guard, intents and sentiment share it
    turn_texts = [t for t in encoded if t == redacted or t in record.text]
    assert all(encoded[t] == 1 for t in turn_texts), encoded
