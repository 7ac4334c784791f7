"""Pipeline machinery with fake stages: wiring, error isolation, timeouts, load failures, and
the turn record of a reply that came in pieces."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.config import load_models, load_pipeline
from assistant.core.errors import StageLoadError
from assistant.core.planner import PipelinePlan
from assistant.core.runner import Pipeline
from assistant.messages import Prosody, TextChange, ToneChoice
from assistant.pipeline import plan_pipeline
from assistant.safety import apply_changes
from assistant.session import APOLOGY, TIMEOUT_APOLOGY, TextSession, TurnRecord
from tests import fakes

MODELS = """
test-nlu:
  words: {backend: first-word}
  broken: {backend: broken-loader}
test-respond:
  echo: {backend: echo}
  shout: {backend: echo, params: {prefix: YOU SAID}}
test-guard:
  guard: {backend: refuse-forbidden}
test-polish:
  exclaim: {backend: exclaim}
"""

PIPELINE = """
input: text
skills: []
stages:
  - {kind: test-nlu, model: words}
  - {kind: test-respond, model: echo}
"""


def make_plan(
    tmp_path: Path, overrides: dict[str, str] | None = None, pipeline: str = PIPELINE
) -> PipelinePlan:
    (tmp_path / "models.yaml").write_text(MODELS)
    (tmp_path / "pipeline.yaml").write_text(pipeline)
    catalog = load_models(tmp_path / "models.yaml")
    spec = load_pipeline(tmp_path / "pipeline.yaml")
    return plan_pipeline(
        spec, tmp_path / "pipeline.yaml", catalog, tmp_path / "models.yaml", overrides
    )


def converse(plan: PipelinePlan, *texts: str, turn_timeout: float = 10) -> list[TurnRecord]:
    async def scenario() -> list[TurnRecord]:
        async with Pipeline(plan) as pipeline:
            session = TextSession(pipeline, turn_timeout=turn_timeout)
            await session.begin()
            records = [await session.say(text) for text in texts]
            await session.end()
            return records

    return asyncio.run(scenario())


def test_stages_are_wired_to_their_upstream(tmp_path: Path) -> None:
    plan = make_plan(tmp_path)
    assert [(s.name, s.upstream) for s in plan.stages] == [
        ("test-nlu", "input"),
        ("test-respond", "test-nlu"),
    ]
    assert plan.last_producer(fakes.Reply) == "test-respond"


def test_each_consumed_type_comes_from_its_nearest_producer(tmp_path: Path) -> None:
    """The guard's Refusal skips nlu and respond but still passes the polish stage, which
    declares it takes one."""
    pipeline = PIPELINE + "  - {kind: test-polish, model: exclaim}\n"
    pipeline = pipeline.replace("stages:\n", "stages:\n  - {kind: test-guard, model: guard}\n")
    plan = make_plan(tmp_path, pipeline=pipeline)
    assert [(s.name, s.upstream, s.senders) for s in plan.stages] == [
        ("test-guard", "input", ("input",)),
        ("test-nlu", "test-guard", ("test-guard",)),  # the guard passes the Transcript on
        ("test-respond", "test-nlu", ("test-nlu",)),
        ("test-polish", "test-respond", ("test-guard", "test-respond")),
    ]
    allowed, refused = converse(plan, "hello there", "forbidden words")
    assert allowed.text == "you said hello!"
    assert refused.text == "no!" and refused.parse is None


def test_turns_flow_through_and_are_recorded(tmp_path: Path) -> None:
    first, second = converse(make_plan(tmp_path), "hello there", "weather today")
    assert first.text == "you said hello"
    assert second.text == "you said weather"
    assert second.turn_id == 2 and second.session_id == first.session_id
    assert set(first.timings_ms()) == {"test-nlu", "test-respond", "total"}
    data = first.to_json()
    assert data["intent"] == {"name": "hello", "confidence": 1.0}
    assert data["slots"] is None and data["sentiment"] is None


def test_override_swaps_a_model(tmp_path: Path) -> None:
    (record,) = converse(make_plan(tmp_path, {"test-respond": "shout"}), "hello")
    assert record.text == "YOU SAID hello"


def test_a_failing_stage_gives_an_apology_and_the_session_goes_on(tmp_path: Path) -> None:
    before, failed, after = converse(make_plan(tmp_path), "hi", "boom now", "hi again")
    assert before.text == "you said hi"
    assert failed.text == APOLOGY
    assert [(e.stage, e.error_type, e.detail) for e in failed.errors] == [
        ("test-nlu", "RuntimeError", "the parser exploded")
    ]
    assert "Traceback" not in failed.text
    assert after.text == "you said hi"


def test_a_stuck_turn_times_out_and_the_next_turn_works(tmp_path: Path) -> None:
    stuck, after = converse(make_plan(tmp_path), "slow one", "fine", turn_timeout=0.3)
    assert stuck.timed_out and stuck.text == TIMEOUT_APOLOGY
    assert after.text == "you said fine"


def test_a_stage_that_cannot_load_says_which_and_why(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, {"test-nlu": "broken"})

    async def scenario() -> None:
        async with Pipeline(plan):
            pass

    with pytest.raises(StageLoadError, match=r"stage test-nlu .*broken.*model.bin is missing"):
        asyncio.run(scenario())


def test_an_interrupt_cancels_work_in_flight_and_stop_still_works(tmp_path: Path) -> None:
    from assistant.messages import Interrupt, Transcript

    async def scenario() -> TurnRecord:
        pipeline = Pipeline(make_plan(tmp_path))
        await pipeline.start()
        session = TextSession(pipeline)
        bus = pipeline.bus
        await bus.publish(
            Transcript(session_id=session.session_id, turn_id=7, text="slow"), "input"
        )
        await asyncio.sleep(0.1)
        await bus.publish(Interrupt(session_id=session.session_id, turn_id=7), "input")
        await asyncio.wait_for(bus.join(), 1)  # the 30 s stage was cancelled
        record = await session.say("after")  # the runner survived its cancellation
        await bus.publish(
            Transcript(session_id=session.session_id, turn_id=9, text="slow"), "input"
        )
        await asyncio.sleep(0.1)
        await asyncio.wait_for(pipeline.stop(), 2)  # stopping mid-message does not hang
        return record

    assert asyncio.run(scenario()).text == "you said after"


def test_a_refusal_nothing_takes_still_leaves_the_pipeline(tmp_path: Path) -> None:
    pipeline = PIPELINE.replace("stages:\n", "stages:\n  - {kind: test-guard, model: guard}\n")
    plan = make_plan(tmp_path, pipeline=pipeline)
    assert plan.final_producers(fakes.Reply, fakes.Refusal) == ("test-respond", "test-guard")
    allowed, refused = converse(plan, "hello there", "forbidden words")
    assert allowed.text == "you said hello"
    assert refused.text == "no"



@pytest.mark.parametrize("name", ["text", "voice"])
def test_the_filtered_reply_leaves_the_pipeline_even_when_tts_speaks_it(name: str) -> None:
    path, models = Path(f"pipelines/{name}.yaml"), Path("models.yaml")
    plan = plan_pipeline(load_pipeline(path), path, load_models(models), models)
    assert plan.final_producers(fakes.Reply, fakes.Refusal) == ("filter",)


# --- a reply in pieces -------------------------------------------------------------------------


def piece(part: int, text: str, *, more: bool = True, **fields: object) -> fakes.Reply:
    return fakes.Reply(
        session_id="s", turn_id=1, text=text, intent="chitchat", source="generation",
        part=part, more=more, **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_record_merges_the_pieces_of_a_reply() -> None:
    given = ["Hi, I'm Ana.", "Mail me at ana@example.com please.", "Call 555-0100.", ""]
    mail = TextChange("pii:EMAIL_ADDRESS", 11, 26, "[email address]")
    phone = TextChange("pii:PHONE_NUMBER", 5, 13, "[phone number]")
    calm = ToneChoice(style="calm", reason="negative (-0.60)")
    filtered = [
        piece(0, "Sorry it's been a hassle. " + given[0],
              tone=replace(calm, adjustments=("acknowledged",)), prosody=Prosody(rate=0.9)),
        piece(1, apply_changes(given[1], [mail]), tone=calm, changes=(mail,)),
        piece(2, apply_changes(given[2], [phone]), tone=calm, changes=(phone,)),
        piece(3, "", more=False, tone=replace(calm, adjustments=("shortened to 3 sentences",))),
    ]  # fmt: skip
    record = TurnRecord("s", 1, plan=text_plan())
    # The responder's and tone's pieces are recorded too, in between; the filter's leave the
    # pipeline. (Tone's pieces carry the tone the filter passes on.)
    record.messages = [("respond", piece(0, given[0])), ("tone", filtered[0])]
    record.messages += [("filter", filtered[0]), ("respond", piece(1, given[1]))]
    record.messages += [(sender, p) for p in filtered[1:] for sender in ("tone", "filter")]
    reply = record.reply
    assert reply is not None
    assert reply.text == record.text == " ".join(p.text for p in filtered[:3])
    assert (reply.part, reply.more, reply.prosody) == (0, False, Prosody(rate=0.9))
    # The changes span the text the filter was given, joined as the reply's text is.
    given_text = " ".join(["Sorry it's been a hassle. " + given[0], *given[1:3]])
    assert [given_text[c.start : c.end] for c in reply.changes] == ["ana@example.com", "555-0100"]
    assert apply_changes(given_text, reply.changes) == reply.text
    data = record.to_json()
    assert data["tone"]["style"] == "calm"
    assert data["tone"]["adjustments"] == ["acknowledged", "shortened to 3 sentences"]
    assert data["tone"]["prosody"] == {"rate": 0.9, "sentence_pause_ms": None}
    assert [(f["rule"], f["start"], f["end"]) for f in data["filter"]] == [
        (c.rule, c.start, c.end) for c in reply.changes
    ]
    assert data["source"] == "generation"


def text_plan() -> PipelinePlan:
    path, models = Path("pipelines/text.yaml"), Path("models.yaml")
    return plan_pipeline(load_pipeline(path), path, load_models(models), models)


def test_a_reply_after_pieces_replaces_them() -> None:
    record = TurnRecord("s", 1, plan=text_plan())
    apology = fakes.Reply(session_id="s", turn_id=1, text=APOLOGY)
    record.messages = [("filter", piece(0, "Hello there.")), ("filter", apology)]
    assert record.reply is apology
    record.messages = [("filter", piece(0, "Hello there.")), ("filter", piece(1, "Bye."))]
    assert record.text == "Hello there. Bye."  # a reply cut short keeps what was said
