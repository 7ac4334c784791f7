"""The tone stage with the shipped policy, fed by the real VADER sentiment stage, and end to end
through `assistant chat`, whose text pipeline has the MiniLM sentiment and the tone stage."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import BUILTIN_SKILLS_DIR
from assistant.core.errors import ConfigError
from assistant.core.stage import StageContext
from assistant.messages import Message, Refusal, Reply, Said, Sentiment, SessionEnd, Transcript
from assistant.persona import load_persona
from assistant.skills.loader import load_skills
from assistant.stages import registry
from assistant.stages.sentiment.vader import VaderParams, VaderSentiment
from assistant.stages.tone.adjust import NO_SENTIMENT, PolicyTone, ToneParams, TurnTone
from assistant.stages.tone.history import Mood, SessionHistory
from assistant.stages.tone.policy import DEFAULT_POLICY, Shorten, load_policy
from assistant.text.sentences import split_sentences
from tests.chat import chat as assistant_chat

ROOT = Path(__file__).resolve().parents[1]
RESPONSES = load_skills((BUILTIN_SKILLS_DIR,)).responses
POLICY = load_policy(DEFAULT_POLICY)
PERSONA = load_persona()
UPSET_PHRASES = set(POLICY.styles["calm"].acknowledge.words(PERSONA))
WARM_PHRASES = set(POLICY.styles["warm"].acknowledge.words(PERSONA))
HELP_OFFER = POLICY.styles["supportive"].offer_help.text
HELP = RESPONSES["utter_help"][0]  # two long sentences
JOKE = RESPONSES["utter_tell_joke"][0]
TIME = "It's 4:43 in the afternoon."


class Conversation:
    """A user talking: VADER scores what they say, the tone stage adjusts the replies."""

    def __init__(self, sentiment: VaderSentiment | None, tone: PolicyTone, session: str) -> None:
        self.sentiment, self.tone, self.session = sentiment, tone, session
        self.turn = 0

    def run(self, stage: VaderSentiment | PolicyTone, message: Message) -> list[Message]:
        async def collect() -> list[Message]:
            return [output async for output in stage.process(message)]

        return asyncio.run(collect())

    def say(
        self, text: str, reply: str, intent: str = "", source: str = "template", **kind: bool
    ) -> Said:
        """The user says `text`; the responder answered `reply`; what the tone stage makes of it."""
        self.hear(text)
        return self.respond(reply, intent, source, **kind)

    def hear(self, text: str) -> None:
        """A new turn: the user says `text`, the tone stage learns how it sounded."""
        self.turn += 1
        transcript = Transcript(session_id=self.session, turn_id=self.turn, text=text)
        assert self.sentiment is not None
        for message in self.run(self.sentiment, transcript):
            if isinstance(message, Sentiment):
                assert self.run(self.tone, message) == []  # remembered, nothing published

    def respond(
        self,
        text: str,
        intent: str = "",
        source: str = "template",
        *,
        proactive: bool = False,
        refused: bool = False,
    ) -> Said:
        reply = (Refusal if refused else Reply)(
            session_id=self.session,
            turn_id=-1 if proactive else self.turn,
            text=text,
            intent=intent,
            source=source,
            proactive=proactive,
        )
        [adjusted] = self.run(self.tone, reply)
        assert type(adjusted) is type(reply) and adjusted.tone and adjusted.prosody
        return adjusted

    def say_in_pieces(
        self, text: str, pieces: list[str], intent: str = "", source: str = "generation"
    ) -> list[Reply]:
        """As `say`, with the reply sent in pieces (the last one ends it)."""
        self.hear(text)
        adjusted: list[Reply] = []
        for part, text in enumerate(pieces):
            reply = Reply(
                session_id=self.session, turn_id=self.turn, text=text, intent=intent,
                source=source, part=part, more=part < len(pieces) - 1,
            )  # fmt: skip
            [out] = self.run(self.tone, reply)
            assert isinstance(out, Reply) and out.tone and out.prosody
            assert (out.part, out.more) == (reply.part, reply.more)
            adjusted.append(out)
        return adjusted


@pytest.fixture(scope="module")
def vader() -> Iterator[VaderSentiment]:
    stage = VaderSentiment(name="sentiment", params=VaderParams(), context=StageContext())
    asyncio.run(stage.start())
    yield stage
    asyncio.run(stage.stop())


@pytest.fixture
def tone() -> Iterator[PolicyTone]:
    stage = PolicyTone(name="tone", params=ToneParams(), context=StageContext())
    asyncio.run(stage.start())
    yield stage
    asyncio.run(stage.stop())


@pytest.fixture
def chat(vader: VaderSentiment, tone: PolicyTone) -> Conversation:
    return Conversation(vader, tone, "s1")


def words(text: str) -> int:
    return len(text.split())


def style(reply: Reply) -> str:
    assert reply.tone is not None
    return reply.tone.style


def test_neutral_reply_is_unchanged(chat: Conversation) -> None:
    reply = chat.say("what can you do", HELP, "help")
    assert reply.text == HELP
    assert reply.tone is not None and reply.tone.style == "neutral"
    assert reply.tone.adjustments == ()
    assert reply.tone.reason.startswith("neutral")
    assert reply.prosody is not None and reply.prosody.rate == 1.0


def test_annoyed_user_gets_a_shorter_calmer_reply(chat: Conversation) -> None:
    neutral = chat.say("what can you do", HELP, "help")
    annoyed = chat.say("ugh, this is so annoying. what can you do?", HELP, "help")
    assert annoyed.tone is not None and annoyed.tone.style == "calm"
    assert annoyed.tone.reason.startswith("negative (-")
    assert annoyed.tone.adjustments == ("shortened to 1 sentence", "acknowledged")
    sentences = split_sentences(annoyed.text)
    assert sentences[0] in UPSET_PHRASES  # the feeling acknowledged, once, first
    assert sentences[1:] == split_sentences(HELP)[:1]  # the answer's first sentence, whole
    assert words(annoyed.text) < words(neutral.text)
    assert annoyed.prosody is not None and neutral.prosody is not None
    assert annoyed.prosody.rate < neutral.prosody.rate
    assert (annoyed.prosody.sentence_pause_ms or 0) > 250  # longer than the voices' default


def test_no_jokes_for_an_upset_user(chat: Conversation) -> None:
    reply = chat.say("ugh, I'm having an awful day, tell me a joke", JOKE, "tell_joke")
    assert reply.tone is not None and reply.tone.style == "calm"
    assert "dropped the tell_joke reply" in reply.tone.adjustments
    assert not set(split_sentences(JOKE)) & set(split_sentences(reply.text))
    assert reply.text.endswith(POLICY.styles["calm"].replace_intents["tell_joke"])


def test_repeated_negative_turns_offer_help_once_and_acknowledge_once(
    chat: Conversation,
) -> None:
    first = chat.say("this is useless, what time is it", TIME, "time")
    second = chat.say("ugh, wrong again, I hate this", RESPONSES["utter_out_of_scope"][0])
    third = chat.say("this is terrible", RESPONSES["utter_out_of_scope"][1])
    assert first.tone and second.tone and third.tone
    assert first.tone.style == "calm" and "acknowledged" in first.tone.adjustments
    assert second.tone.style == "supportive"
    assert "2nd negative turn in a row" in second.tone.reason
    assert "offered help" in second.tone.adjustments
    assert second.text.endswith(HELP_OFFER)
    # Acknowledged once per negative stretch: not again on the second turn, with any phrase.
    assert "acknowledged" not in second.tone.adjustments
    assert not any(phrase in second.text for phrase in UPSET_PHRASES)
    # Help offered once per stretch, too: the third turn is just short and calm.
    assert "3rd negative turn in a row" in third.tone.reason
    assert third.tone.adjustments == ("shortened to 1 sentence",)
    assert third.prosody is not None and third.prosody.rate < 1

    # A new stretch after a neutral turn is acknowledged again, never with the same phrase.
    last_phrase = split_sentences(first.text)[0]
    assert style(chat.say("what's the date", "Today is Friday, May 2.", "date")) == "neutral"
    again = chat.say("ugh, this is so annoying", RESPONSES["utter_out_of_scope"][0])
    assert again.tone is not None and again.tone.style == "calm"
    assert "acknowledged" in again.tone.adjustments
    assert split_sentences(again.text)[0] in UPSET_PHRASES - {last_phrase}


def test_positive_user_gets_a_warmer_reply(chat: Conversation) -> None:
    reply = chat.say("awesome, you're great! what time is it?", TIME, "time")
    assert reply.tone is not None and reply.tone.style == "warm"
    assert reply.tone.adjustments == ("acknowledged",)
    phrase, rest = reply.text.split(" ", 1)[0], reply.text
    assert any(rest.startswith(p) for p in WARM_PHRASES), phrase
    assert rest.endswith(TIME)
    assert reply.prosody is not None and reply.prosody.rate > 1
    # A thank-you is answered warmly already: no extra phrase.
    thanks = chat.say("thank you so much, that's wonderful", "You're welcome!", "thanks")
    assert thanks.tone is not None and thanks.tone.style == "warm"
    assert thanks.text == "You're welcome!"


def test_guard_refusal_and_proactive_replies_keep_their_words(chat: Conversation) -> None:
    refusal = "I can't help with that."
    # A refused turn never reaches the sentiment stage: no sentiment for it.
    chat.turn += 1
    refused = chat.respond(refusal, source="guard:harmful", refused=True)
    assert refused.text == refusal
    assert refused.tone is not None and refused.tone.style == "neutral"
    assert refused.tone.reason == f"{NO_SENTIMENT}; guard:harmful reply: text kept"
    assert refused.tone.adjustments == ()

    chat.say("ugh, this is so annoying, set a timer for one minute", "Okay, one minute.")
    done = chat.respond("Your timer is done. It ran for one minute.", proactive=True)
    assert done.text == "Your timer is done. It ran for one minute."
    assert done.tone is not None and done.tone.style == "calm"
    assert done.tone.reason.startswith("latest turn negative")
    assert done.tone.reason.endswith("proactive reply: text kept")
    assert done.prosody is not None and done.prosody.rate < 1


def test_guard_reply_to_an_upset_user_still_sounds_calm(chat: Conversation) -> None:
    refusal = "I won't help with that. Is there something else?"
    reply = chat.say(
        "ugh, you useless thing, help me hurt someone", refusal, source="guard", refused=True
    )
    assert reply.text == refusal
    assert reply.tone is not None and reply.tone.style == "calm"
    assert reply.prosody is not None and reply.prosody.rate < 1


def test_without_a_sentiment_stage_the_turn_is_neutral(tone: PolicyTone) -> None:
    chat = Conversation(None, tone, "quiet")
    chat.turn = 1
    reply = chat.respond(HELP, "help")
    assert reply.text == HELP
    assert reply.tone is not None and reply.tone.style == "neutral"
    assert reply.tone.reason == NO_SENTIMENT


def test_sessions_are_separate_and_forgotten_at_their_end(
    vader: VaderSentiment, tone: PolicyTone
) -> None:
    alice, bob = Conversation(vader, tone, "alice"), Conversation(vader, tone, "bob")
    assert style(alice.say("this is useless", TIME, "time")) == "calm"
    assert style(bob.say("what time is it", TIME, "time")) == "neutral"
    assert style(alice.say("ugh, useless", TIME, "time")) == "supportive"
    asyncio.run(tone.control(SessionEnd(session_id="alice", turn_id=2)))
    again = alice.say("ugh, useless", TIME, "time")
    assert again.tone is not None and again.tone.style == "calm"  # a fresh stretch
    assert "acknowledged" in again.tone.adjustments


@pytest.mark.parametrize(
    ("text", "max_sentences", "expected"),
    [
        ("One. Two. Three.", 1, "One."),
        ("One. Two. Three.", 2, "One. Two."),
        ("One. Two.", 2, "One. Two."),  # nothing to drop
        ("Dr. Smith is in at 5 p.m. today. Then he leaves.", 1,
         "Dr. Smith is in at 5 p.m. today."),
        # The question at the end is what the user must answer next: kept.
        ("Sure. I need a length. How long should the timer be?", 1,
         "Sure. How long should the timer be?"),
        ("Hi there. What can I do for you?", 1, "Hi there. What can I do for you?"),
        # However long: tone counts sentences, it never cuts one.
        ("It goes on " * 40 + "and ends. Then more.", 1, "It goes on " * 40 + "and ends."),
    ],
)  # fmt: skip
def test_shortening_keeps_whole_sentences(text: str, max_sentences: int, expected: str) -> None:
    turn = TurnTone("calm", POLICY.styles["calm"], None, "", keep_text=False)
    assert turn.shorten(text, Shorten(max_sentences=max_sentences), last=True) == expected


def test_stage_is_registered_and_takes_sentiment_as_feedback() -> None:
    backend = registry.get("tone", "policy")
    assert backend is not None and backend.cls is PolicyTone
    assert PolicyTone.consumes == (Reply, Refusal) and PolicyTone.produces == (Reply, Refusal)
    assert PolicyTone.feedback == (Sentiment,)


# --- the policy file -----------------------------------------------------------------------------


def edited_policy(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_POLICY.read_text()
    assert old in text
    path = tmp_path / "tone.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_policy_typo_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    path = edited_policy(tmp_path, "prosody: {rate: 0.9,", "prosody: {rte: 0.9,")
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: styles.calm.prosody.rte: unknown key")
    assert "did you mean 'rate'?" in message


def test_policy_errors_name_the_key(tmp_path: Path) -> None:
    cases = {
        ("default_style: neutral", "default_style: nuetral"): "default_style: Value error, "
        "'nuetral' is not one of the styles",
        ("{label: negative}", "{label: angry}"): "styles.calm.when.label: Input should be",
        ("rate: 0.9,", "rate: 9,"): "styles.calm.prosody.rate: Input should be less than",
    }
    for (old, new), expected in cases.items():
        with pytest.raises(ConfigError, match=f"tone.yaml: {expected}"):
            load_policy(edited_policy(tmp_path, old, new))


def test_stage_with_a_broken_policy_does_not_start(tmp_path: Path) -> None:
    path = edited_policy(tmp_path, "keep_text:", "keep_txt:")
    stage = PolicyTone(name="tone", params=ToneParams(policy=path), context=StageContext())
    with pytest.raises(ConfigError, match=r"keep_txt: unknown key \(did you mean 'keep_text'"):
        asyncio.run(stage.start())


# --- end to end through `assistant chat` ---------------------------------------------------------


def test_chat_with_sentiment_and_tone(tmp_path: Path, assistant_bin: str) -> None:
    """An annoyed user gets a shorter, calmer reply than a neutral one, as `--json` shows."""
    # The default text pipeline has the sentiment (MiniLM classifier) and tone stages.
    lines = [
        "book me a flight to lisbon",
        "ugh, this is so annoying, book me a flight to lisbon",
        "what time is it?",
        "ugh, this is so annoying, what time is it?",
    ]
    plain_neutral, plain_annoyed, time_neutral, time_annoyed = assistant_chat(
        assistant_bin, lines, "--set", "dst=tracker-memory"
    )
    for turn in (plain_neutral, time_neutral):
        assert turn["sentiment"] == {"label": "neutral", "score": 0.0}
        assert turn["tone"]["style"] == "neutral" and turn["tone"]["adjustments"] == []
        assert turn["tone"]["prosody"] == {"rate": 1.0, "sentence_pause_ms": None}
    for turn in (plain_annoyed, time_annoyed):
        # Negative, by how much varies: the classifier puts the long flight request only just
        # past its band (about -0.02), the short question further (about -0.33).
        assert turn["sentiment"]["label"] == "negative" and turn["sentiment"]["score"] < 0
        assert turn["tone"]["style"] == "calm"
        assert turn["tone"]["reason"].startswith("negative (-")
        assert "acknowledged" in turn["tone"]["adjustments"]
        assert turn["tone"]["prosody"]["rate"] < 1
        assert turn["tone"]["prosody"]["sentence_pause_ms"] > 250
        assert set(turn["timings_ms"]) >= {"sentiment", "tone"}
        assert split_sentences(turn["text"])[0] in UPSET_PHRASES
    # The same request, asked in annoyance: the answer keeps its first sentence only, and the
    # whole reply is shorter than the two-sentence one it replaces.
    assert plain_annoyed["intent"]["name"] == plain_neutral["intent"]["name"] == "out_of_scope"
    assert plain_annoyed["tone"]["adjustments"] == ["shortened to 1 sentence", "acknowledged"]
    answer = split_sentences(plain_annoyed["text"])[1:]
    [unshortened] = [r for r in RESPONSES["utter_out_of_scope"] if split_sentences(r)[:1] == answer]
    assert len(split_sentences(plain_neutral["text"])) == len(split_sentences(unshortened)) == 2
    assert words(plain_annoyed["text"]) < words(unshortened)
    # A one-sentence answer cannot get shorter: it stays whole, after the acknowledgement, which
    # is not the phrase used the time before.
    assert time_annoyed["intent"]["name"] == "time"
    time_sentences = split_sentences(time_annoyed["text"])
    assert len(time_sentences) == 2 and time_sentences[1].startswith("It's ")
    assert time_sentences[0] != split_sentences(plain_annoyed["text"])[0]


# --- a reply in pieces (the language model's sentences as it writes them) ------------------------


def adjustments(pieces: list[Reply]) -> list[tuple[str, ...]]:
    return [piece.tone.adjustments if piece.tone else () for piece in pieces]


def test_pieces_of_a_neutral_reply_pass_unchanged(chat: Conversation, tone: PolicyTone) -> None:
    pieces = chat.say_in_pieces("what do you like", ["I like fall.", "It is lovely.", ""])
    assert [p.text for p in pieces] == ["I like fall.", "It is lovely.", ""]
    assert {style(p) for p in pieces} == {"neutral"} and adjustments(pieces) == [()] * 3
    assert all(p.prosody is not None and p.prosody.rate == 1.0 for p in pieces)
    assert not tone.unfinished  # what was kept for the turn goes with its last piece


def test_pieces_are_adjusted_as_one_reply(
    chat: Conversation, tone: PolicyTone, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[int, str]] = []
    first_in_stretch = SessionHistory.first_in_stretch

    def counted(history: SessionHistory, action: str, mood: Mood) -> bool:
        asked.append((mood.turn_id, action))
        return first_in_stretch(history, action, mood)

    monkeypatch.setattr(SessionHistory, "first_in_stretch", counted)

    # An annoyed user: acknowledged once, before the first piece; shortened to one sentence
    # over all the pieces; all pieces calm.
    answer = ["I like fall.", "It is lovely. The leaves turn red.", "And it is cool.", ""]
    calm = chat.say_in_pieces("ugh, this is so annoying. what do you like?", answer, "chitchat")
    assert {style(p) for p in calm} == {"calm"}
    assert all(p.prosody is not None and p.prosody.rate < 1 for p in calm)
    phrase, first = split_sentences(calm[0].text)
    assert phrase in UPSET_PHRASES and first == "I like fall."
    assert [p.text for p in calm[1:]] == ["", "", ""]
    assert adjustments(calm) == [("acknowledged",), (), (), ("shortened to 1 sentence",)]
    assert asked == [(1, "acknowledge")]  # once for the turn, as for a reply sent whole

    # Still annoyed: the help offer goes after the last piece, and is decided once.
    asked.clear()
    answer = ["I like tea.", "Green tea, mostly.", ""]
    supportive = chat.say_in_pieces("ugh, useless. what do you drink?", answer, "chitchat")
    assert {style(p) for p in supportive} == {"supportive"}
    assert [p.text for p in supportive] == ["I like tea.", "", HELP_OFFER]
    assert adjustments(supportive) == [(), (), ("shortened to 1 sentence", "offered help")]
    assert asked == [(2, "acknowledge"), (2, "offer_help")]
    assert not tone.unfinished


def test_a_final_question_in_the_last_piece_is_kept(chat: Conversation) -> None:
    pieces = chat.say_in_pieces(
        "ugh, this is so annoying", ["Sure.", "I need a length.", "How long should it be?"]
    )
    assert [split_sentences(p.text)[-1] for p in pieces if p.text] == [
        "Sure.", "How long should it be?",
    ]  # fmt: skip
    assert pieces[1].text == ""
    assert adjustments(pieces)[-1] == ("shortened to 2 sentences",)


def test_a_replaced_reply_in_pieces_is_said_once(chat: Conversation) -> None:
    joke = split_sentences(JOKE)
    pieces = chat.say_in_pieces("ugh, awful day, tell me a joke", [*joke, ""], "tell_joke")
    replacement = POLICY.styles["calm"].replace_intents["tell_joke"]
    assert pieces[0].text.endswith(replacement)
    assert [p.text for p in pieces[1:]] == [""] * len(joke)
    assert adjustments(pieces)[0] == ("dropped the tell_joke reply", "acknowledged")


def test_a_session_that_ends_mid_reply_is_forgotten(chat: Conversation, tone: PolicyTone) -> None:
    chat.hear("what do you like")
    piece = Reply(session_id="s1", turn_id=chat.turn, text="I like fall.", part=0, more=True)
    assert len(chat.run(tone, piece)) == 1 and tone.unfinished
    asyncio.run(tone.control(SessionEnd(session_id="s1", turn_id=chat.turn)))
    assert not tone.unfinished
