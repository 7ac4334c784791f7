"""Learning from corrections (`assistant.learning.learn`), on the default intent model.

"what's in my trolley" is a real phrasing the shipped intent-minilm model gets wrong (it takes
it for a question to the knowledge base; paraphrases of it come out as out of scope). Users
correct it three times; after learning, a freshly built classifier understands it as the
shopping list, and understands paraphrases never corrected too. Corrections that teach a wrong
intent lower the held-out accuracy, and the guard then keeps nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.commands.learning import (
    intent_model_builder,
    learn_from_store,
    pipeline_nlu_model,
    pipeline_skill_dirs,
)
from assistant.config import (
    BUILTIN_SKILLS_DIR,
    load_pipeline,
    resolve_pipeline_path,
    resolve_skill_dirs,
)
from assistant.learning.corrections import annotated, collect
from assistant.learning.evaluate import HeldoutError, read_examples
from assistant.learning.learn import NOISE_LINES, BuildModel, learn
from assistant.learning.learned import Learned, forget_learned, read_learned, write_learned
from assistant.learning.paths import learned_skill_dir
from assistant.learning.rows import FeedbackRow, TurnRow
from assistant.learning.store import SQLiteRecordStore
from assistant.skills.loader import Example, load_skill, parse_example

PHRASE = "what's in my trolley"
PARAPHRASES = ("what's in the trolley", "whats in the trolley so far")
AT = 1_764_000_000.0


@pytest.fixture(scope="module")
def build() -> BuildModel:
    model = pipeline_nlu_model("text")
    assert model == "intent-minilm"  # the default intent model is the one under test
    return intent_model_builder(model)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state folder of this test's own: the learned skill folder lives under it."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def _corrected(
    text: str, understood: str, meant: str, intent: str | None, conversation: str, user: str
) -> tuple[TurnRow, FeedbackRow]:
    turn = TurnRow(conversation, 2, user, AT, text, "I don't know.", intent=understood)
    feedback = FeedbackRow(
        conversation, 2, user, "correction", AT + 5, correction=meant, corrected_intent=intent
    )
    return turn, feedback


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_phrasing_corrected_three_times_is_understood_after_learning(
    build: BuildModel, state: Path
) -> None:
    dirs = pipeline_skill_dirs("text")
    assert learned_skill_dir() not in dirs  # nothing learnt yet
    before = build(dirs)
    for text in (PHRASE, *PARAPHRASES):
        assert before.classify(text)[0].name != "show_list", text

    # Three conversations, two users: "no, I meant what's on my shopping list". One correction
    # came without its intent: the model's reading of the corrected words stands in for it.
    rows = [
        _corrected(PHRASE, "ask_knowledge", "what's on my shopping list", "show_list", "c1", "u1"),
        _corrected(PHRASE, "ask_knowledge", "what's on my shopping list", None, "c2", "u1"),
        _corrected(PHRASE, "ask_knowledge", "read me my shopping list", "show_list", "c3", "u2"),
    ]
    turns, feedback = [t for t, _ in rows], [f for _, f in rows]
    result = learn(turns, feedback, dirs, build)

    assert result.kept, result.lines()
    # Kept: within a refit's noise of before (one line sits on the out-of-scope threshold).
    assert result.after is not None
    assert result.after.correct >= result.before.correct - NOISE_LINES
    assert result.before.total == result.after.total > 300
    assert [(a.text, a.intent, a.count, a.source) for a in result.added] == [
        (PHRASE, "show_list", 3, "correction")
    ]
    assert result.folder == learned_skill_dir()
    assert result.folder.is_relative_to(state)
    assert load_skill(result.folder).examples == (Example(PHRASE, "show_list"),)
    printed = "\n".join(result.lines())
    assert "held-out intent accuracy before: " in printed and "-> kept" in printed

    # Every pipeline now has the learned folder among its skills, last.
    # (`plan_pipeline` takes them from `resolve_skill_dirs`.)
    for pipeline in ("text", "voice"):
        path = resolve_pipeline_path(pipeline)
        assert resolve_skill_dirs(path, load_pipeline(path).skills)[-1] == learned_skill_dir()
    after = build(pipeline_skill_dirs("text"))
    for text in (PHRASE, *PARAPHRASES):
        assert after.classify(text)[0].name == "show_list", text

    # The built-in skills were not touched.
    assert not any("trolley" in p.read_text() for p in BUILTIN_SKILLS_DIR.rglob("nlu.yml"))

    # Learning the same rows again adds nothing and leaves the folder alone.
    written = _snapshot(result.folder)
    again = learn(turns, feedback, pipeline_skill_dirs("text"), build)
    assert again.after is None and not again.kept and again.added == ()
    assert "already a training example of show_list" in {s.reason for s in again.skipped}
    assert _snapshot(result.folder) == written

    # Who taught it is kept beside it; forgetting one of them removes what was learnt (the
    # others' corrections, still in the store, would teach it again at the next run).
    sources = json.loads((result.folder / "sources.json").read_text())
    assert sources["examples"] == [
        {"intent": "show_list", "example": PHRASE, "users": ["u1", "u2"]}
    ]
    assert forget_learned("u3") == 0
    assert forget_learned("u2") == 1
    assert (
        not (result.folder / "nlu.yml").exists() and not (result.folder / "sources.json").exists()
    )
    assert pipeline_skill_dirs("text")[-1] != learned_skill_dir()


def test_corrections_that_teach_a_wrong_intent_are_not_kept(build: BuildModel, state: Path) -> None:
    # What an earlier run learnt stays exactly as it was.
    folder = learned_skill_dir()
    folder.mkdir(parents=True)
    (folder / "nlu.yml").write_text(
        f'version: "3.1"\nnlu:\n- intent: show_list\n  examples: |\n    - {PHRASE}\n'
    )
    kept_before = _snapshot(state)

    # Greetings "corrected" into goodbyes, three times each.
    wrong = (
        "good day to you my friend",
        "hey hey",
        "good evening assistant",
        "hello again, it's me",
        "morning to you",
    )
    rows = [
        _corrected(text, "greet", "bye then", "goodbye", f"c{i}{j}", f"u{j}")
        for i, text in enumerate(wrong)
        for j in range(3)
    ]
    result = learn([t for t, _ in rows], [f for _, f in rows], pipeline_skill_dirs("text"), build)

    assert result.after is not None
    assert result.after.correct < result.before.correct, result.lines()
    assert not result.kept
    assert sorted(a.text for a in result.added) == sorted(wrong)
    assert "dropped: accuracy would fall, nothing changed" in "\n".join(result.lines())
    assert _snapshot(state) == kept_before
    # The learned example of before still counts; the wrong ones never did.
    model = build(pipeline_skill_dirs("text"))
    assert model.classify(PHRASE)[0].name == "show_list"
    assert not any(model.classify(text)[0].name == "goodbye" for text in wrong)


def test_learn_from_the_record_store_makes_an_unsure_but_right_turn_sure(
    build: BuildModel, state: Path
) -> None:
    """Through the SQLite record store and `learn_from_store` (what `assistant learn` calls):
    a turn the model got right but barely, rated good, becomes an example of its intent."""
    # Right but unsure. Which phrasing is depends on the intents there are ("...grocery haul"
    # went wrong with ask_fact; "go over the shopping for me" fell held-out accuracy by 2 once
    # learned with the memory intents).
    text = "read back the groceries"
    understood = build(pipeline_skill_dirs("text")).classify(text)[0]
    assert understood.name == "show_list" and understood.confidence < 0.6
    with SQLiteRecordStore(state / "records.sqlite") as store:
        turn = TurnRow(
            "c1", 1, "u1", AT, text, "milk", intent="show_list", confidence=understood.confidence
        )
        store.add_turn(turn)
        store.add_feedback(FeedbackRow("c1", 1, "u1", "good", AT + 3))
        result = learn_from_store(store)
    assert result.kept, result.lines()
    assert [(a.text, a.intent, a.source) for a in result.added] == [
        (text, "show_list", "confirmed")
    ]
    now = build(pipeline_skill_dirs("text")).classify(text)[0]
    assert now.name == "show_list" and now.confidence > 0.6


# --- which rows become examples (no model needed) -----------------------------------------------


def _never_understood(text: str) -> str | None:
    return None


def _turn(conversation: str, turn: int, text: str, intent: str, **kw: object) -> TurnRow:
    return TurnRow(conversation, turn, f"u-{conversation}", AT, text, "?", intent=intent, **kw)  # type: ignore[arg-type]


def _fix(conversation: str, turn: int, intent: str | None, correction: str = "") -> FeedbackRow:
    user = f"u-{conversation}"
    return FeedbackRow(conversation, turn, user, "correction", AT, "", correction, intent)


def _rate(conversation: str, turn: int, kind: str, comment: str = "") -> FeedbackRow:
    return FeedbackRow(conversation, turn, f"u-{conversation}", kind, AT, comment)  # type: ignore[arg-type]


EGGS = {"entity": "item", "value": "eggs", "text": "eggs", "start": 6, "end": 10}
TEN_MINUTES = {"entity": "duration", "value": 600, "text": "ten minutes", "start": 19, "end": 30}


def test_collect_keeps_corrections_and_unsure_confirmed_turns_and_says_what_it_left_out() -> None:
    intents = {"show_list", "add_to_list", "set_timer", "out_of_scope"}
    training = [Example("what's on my list", "show_list")]
    shout = "give me a shout in ten minutes"
    turns = [
        _turn("a", 1, "chuck eggs in", "out_of_scope", entities=[EGGS]),
        _turn("a", 2, shout, "set_timer", confidence=0.35, entities=[TEN_MINUTES]),
        _turn("a", 3, "what's on my list", "show_list", confidence=0.9),
        _turn("b", 1, "ring <PERSON_1> later", "out_of_scope"),
        _turn("b", 2, "book a table", "out_of_scope"),
        _turn("b", 3, "whats up with the list", "show_list"),
        _turn("b", 4, "sure thing", "show_list", confidence=0.9),
        _turn("c", 1, "whats up with the list", "show_list"),
        _turn("d", 1, "an unkind word", "show_list", guard={"refused": True}),
        _turn("e", 1, "flagged words", "show_list"),
        _turn("f", 1, "what's on my list", "add_to_list"),
    ]
    feedback = [
        _fix("a", 1, "add_to_list", "add eggs"),
        _rate("a", 2, "good"),  # unsure but right: learnt
        _rate("a", 3, "good"),  # sure already: nothing to learn
        _fix("b", 1, "set_timer"),
        _fix("b", 2, "book_table"),
        _fix("b", 3, "add_to_list"),
        _fix("c", 1, "set_timer"),
        _fix("b", 4, "out_of_scope", "mumble"),  # not understood either (_never_understood)
        _fix("d", 1, "add_to_list"),
        _fix("e", 1, "add_to_list"),
        _rate("e", 1, "flag", "creepy"),  # the whole conversation is left out
        _fix("f", 1, "show_list"),
        _fix("gone", 1, "show_list"),  # its turn has expired
    ]
    learned, skipped = collect(
        turns, feedback, intents=intents, training=training, classify=_never_understood
    )
    duration = '{"entity": "duration", "value": "600"}'
    assert [(e.line, e.intent, e.source) for e in learned] == [
        ("chuck [eggs](item) in", "add_to_list", "correction"),
        (f"give me a shout in [ten minutes]{duration}", "set_timer", "confirmed"),
    ]
    # The annotations read back as the loader reads the skills.
    assert learned[1].example() == parse_example(learned[1].line, "set_timer")
    assert learned[1].example().entities[0].value == "600"
    reasons = {s.text: s.reason for s in skipped}
    assert reasons == {
        "ring <PERSON_1> later": "has an anonymized name or number in it",
        "book a table": "no skill has the intent 'book_table'",
        "whats up with the list": "users disagree (add_to_list x1, set_timer x1)",
        "sure thing": "the correction was not understood",
        "an unkind word": "the guard or filter fired on this turn",
        "what's on my list": "already a training example of show_list",
    }

    # Asking for three corrections of the same words leaves single ones out.
    learned, skipped = collect(
        turns,
        feedback,
        intents=intents,
        training=training,
        classify=_never_understood,
        min_count=3,
    )
    assert learned == []
    assert {s.text: s.reason for s in skipped}["chuck eggs in"] == "taught 1 time(s), fewer than 3"


def test_forgetting_a_user_keeps_lines_added_by_hand(state: Path) -> None:
    folder = learned_skill_dir()
    folder.mkdir(parents=True)
    (folder / "nlu.yml").write_text(
        "nlu:\n- intent: show_list\n  examples: |\n    - what is on the list, by hand\n"
    )
    learned = read_learned(folder)
    learned.add("show_list", "what's in my trolley", ("k1", "k2"))
    learned.add("add_to_list", "chuck [eggs](item) in", ("k2",))
    write_learned(folder, learned)
    assert load_skill(folder).examples == (
        Example("chuck eggs in", "add_to_list", load_skill(folder).examples[0].entities),
        Example("what is on the list, by hand", "show_list"),
        Example("what's in my trolley", "show_list"),
    )
    assert forget_learned("k1") == 1
    assert read_learned(folder).lines == {
        "show_list": ["what is on the list, by hand"],
        "add_to_list": ["chuck [eggs](item) in"],
    }
    assert forget_learned("k2") == 1
    again = read_learned(folder)
    assert again.lines == {"show_list": ["what is on the list, by hand"]}
    assert not any(again.users.values())
    assert Learned().count == 0


def test_annotations_fit_the_words_or_are_left_out() -> None:
    entities = [
        {"entity": "item", "value": "oat milk", "text": "oat milk", "start": 4, "end": 12},
        {"entity": "item", "value": "milk", "text": "milk", "start": 8, "end": 12},  # overlaps
        {"entity": "item", "value": "bread", "text": "bread", "start": 30, "end": 35},  # too far
        {"entity": "item", "value": "x", "text": "not these words", "start": 0, "end": 3},
    ]
    assert annotated("add oat milk", entities) == "add [oat milk](item)"


def test_the_learned_folder_joins_the_skills_only_when_it_has_examples(state: Path) -> None:
    text = resolve_pipeline_path("text")
    assert resolve_skill_dirs(text, ["builtin"]) == (BUILTIN_SKILLS_DIR,)
    learned_skill_dir().mkdir(parents=True)
    assert resolve_skill_dirs(text, ["builtin"]) == (BUILTIN_SKILLS_DIR,)  # empty folder
    (learned_skill_dir() / "nlu.yml").write_text("nlu: []\n")
    assert resolve_skill_dirs(text, ["builtin"]) == (BUILTIN_SKILLS_DIR, learned_skill_dir())
    assert resolve_skill_dirs(text, ["builtin"], learned=False) == (BUILTIN_SKILLS_DIR,)


def test_a_missing_heldout_set_is_a_one_line_error(tmp_path: Path, state: Path) -> None:
    with pytest.raises(HeldoutError, match=r"no held-out set there; give the path") as caught:
        read_examples(tmp_path / "nope.yml")
    assert "\n" not in str(caught.value)
    (tmp_path / "empty.yml").write_text("nlu: []\n")
    build = intent_model_builder("intent-tfidf")
    with pytest.raises(HeldoutError, match="no '- intent:' examples"):
        learn([], [], pipeline_skill_dirs("text"), build, heldout=tmp_path / "empty.yml")
    assert not learned_skill_dir().exists()
