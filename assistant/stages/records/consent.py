"""The `records` stage: consent to conversation records, ratings and corrections, in words.

It sits between intent detection and the dialogue tracker. At a session's start it asks the
consent question of the policy file (`assistant/policies/consent.yaml`) when the user has not
answered the current wording, as a turn of its own. The answer ("yes", "no"), "stop recording",
"forget my data", "are you recording me", "that was helpful", "that's wrong", "flag that" and
the chat commands `/consent`, `/good`, `/bad [why]`, `/flag [why]` are handled here: the Parse
goes on as intent `records_notice` carrying the words to say (the `records_message` entity, which
the `records` skill's template says), so tone, filter and speech treat them as any reply. A
correction ("no, I meant add milk", understood by the nlu stage) is stored on the turn it
corrects and goes on as the request. "Forget everything about me" (the memory skill's
`forget_me`) forgets the records as "forget my data" does and goes on, with the words about the
records as its `records_message` entity, to the memory skill, which forgets the rest. Turns of
the memory skill are never kept: what a user asks to be remembered is theirs alone.
Everything else passes unchanged.

Consented turns are written by `RecordsBook.keep`, which the sessions call through
`StageContext.keepers` once a turn is over, off the turn's path.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from assistant.core.stage import Stage, StageParams
from assistant.learning.book import BookSettings, RecordsBook
from assistant.learning.consent import ConsentMode, ConsentPolicy, configured_mode
from assistant.learning.identity import default_key_path
from assistant.learning.rows import FeedbackKind
from assistant.learning.store import default_store_path
from assistant.memory import MEMORY_INTENTS
from assistant.messages import (
    Entity,
    IntentScore,
    Message,
    Parse,
    SessionEnd,
    SessionStart,
    TurnEnd,
    TurnStart,
)
from assistant.records import last_of
from assistant.stages.records.commands import Notice, understand_command

log = logging.getLogger(__name__)

NOTICE = "records_notice"
BUTTONS: dict[str, FeedbackKind] = {"up": "good", "down": "bad", "flag": "flag"}
MESSAGE = "records_message"


class RecordsParams(StageParams):
    consent: ConsentMode = Field(
        "ask",
        description="ask: ask each user once per policy version; granted: consent was "
        "given outside the assistant; off: keep nothing ($ASSISTANT_RECORDS_CONSENT overrides)",
    )
    audio: bool = Field(False, description="keep audio too, for users who agree to that apart")
    retention_days: int | None = Field(365, ge=1, description="delete records older than this")
    policy: Path | None = Field(None, description="the consent wording (default: the packaged one)")
    path: Path | None = Field(None, description="the records (default: XDG state dir)")
    key: Path | None = Field(None, description="the HMAC key, kept apart (default: XDG config)")


class RecordsStage(Stage):
    kind: ClassVar[str] = "records"
    backend: ClassVar[str] = "consent"
    description: ClassVar[str] = "consent, ratings and corrections; anonymized records"
    consumes = (Parse,)
    produces = (Parse,)
    Params: ClassVar[type[StageParams]] = RecordsParams
    params: RecordsParams

    @classmethod
    def turn_record(cls, produced: Sequence[Message]) -> dict[str, Any]:
        parse = last_of(Parse, produced)
        if parse is None:
            return {}
        return {
            "records": {
                "corrects": parse.corrects,
                "notice": parse.intent.name == NOTICE,
                "question_waiting": parse.question_waiting,
            }
        }

    def load(self) -> None:
        self.book = RecordsBook(
            BookSettings(
                mode=configured_mode(self.params.consent),
                store_path=self.params.path or default_store_path(),
                key_path=self.params.key or default_key_path(),
                policy=ConsentPolicy.load(self.params.policy),
                audio=self.params.audio,
                retention_days=self.params.retention_days,
            )
        )
        self.users: dict[str, str] = {}
        self.asking: dict[str, str] = {}  # session -> the consent kind asked and not answered
        self.last_turn: dict[str, int] = {}  # session -> the latest turn a rating is about
        # Whether each user's turns are kept, as of now (answers change it), and each turn's
        # lot, decided when it is understood: its record comes later (a spoken turn's after
        # the next one may have said "stop recording").
        self.consenting: dict[str, bool] = {}
        self.turn_kept: dict[tuple[str, int], float] = {}  # (session, turn) -> when it was said
        self.plan_info: dict[str, Any] = {}
        self.context.keepers.append(self)

    async def stop(self) -> None:
        if self in self.context.keepers:
            self.context.keepers.remove(self)
        if hasattr(self, "book"):
            await asyncio.to_thread(self.book.close)
        await super().stop()

    async def on_book(self, fn: Any, *args: Any) -> Any:
        return await asyncio.wrap_future(self.book.submit(fn, *args))

    async def control(self, message: Message) -> None:
        if isinstance(message, SessionStart):
            user = message.user or default_user(message.session_id)
            self.users[message.session_id] = user
            if self.book.mode == "off":
                return  # nothing to note, nothing to ask
            await self.on_book(self.book.started, user, message.session_id)
            self.consenting[user] = await self.on_book(self.book.recording, user)
            if message.interactive and await self.on_book(self.book.must_ask, user):
                self.asking[message.session_id] = "records"
                asyncio.get_running_loop().create_task(
                    self.say_alone(message.session_id, self.book.policy.question)
                )
        elif isinstance(message, SessionEnd):
            for table in (self.users, self.asking, self.last_turn):
                table.pop(message.session_id, None)
            for key in [k for k in self.turn_kept if k[0] == message.session_id]:
                del self.turn_kept[key]

    async def say_alone(self, session_id: str, text: str) -> None:
        """Say `text` as a turn of its own (the question at a session's start)."""
        turn = self.context.proactive_turn(session_id)
        try:
            await self.emit(TurnStart(session_id=session_id, turn_id=turn, origin=self.name))
            await self.emit(notice_parse(session_id, turn, text))
            await self.emit(TurnEnd(session_id=session_id, turn_id=turn))
        except Exception:
            log.exception("records: the consent question of session %s was not said", session_id)

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, Parse)
        self.book.turn_began()
        session = message.session_id
        user = self.users.get(session) or default_user(session)
        command = understand_command(message, asking=self.asking.get(session))
        if command is None:
            if message.corrects and session in self.last_turn:
                await self.on_book(
                    self.book.feedback, user, session, self.last_turn[session], "correction",
                    "", message.text, message.intent.name,
                )  # fmt: skip
            self.last_turn[session] = message.turn_id
            # What a user asks to be remembered is theirs alone: never a record (nor the reply
            # that says it back).
            if self.consenting.get(user) and message.intent.name not in MEMORY_INTENTS:
                self.turn_kept[(session, message.turn_id)] = time.time()
            yield replace(message, question_waiting=True) if session in self.asking else message
            return
        text = await self.on_book(self.carry_out, command, user, session)
        if message.intent.name in MEMORY_INTENTS:
            # "Forget everything about me": the records are gone; the memory skill forgets
            # the rest and says both.
            yield replace(message, entities=(*message.entities, notice_entity(text)))
            return
        yield notice_parse(session, message.turn_id, text, message.text)

    def carry_out(self, command: Notice, user: str, session: str) -> str:
        """Do what the user asked about their records (on the records thread); the reply."""
        book, policy = self.book, self.book.policy
        if command.consent is not None:
            if book.mode == "off":
                return policy.reply("status_off")
            book.answer(user, command.consent, command.kind)
            self.consenting[user] = book.recording(user)
            self.asking.pop(session, None)
            reply = policy.reply(command.consent)
            if self.asks_audio_next(user, command):
                self.asking[session] = "audio"
                reply = f"{reply} {policy.audio_question}"
            return reply
        if command.action == "forget":
            receipt = book.forget(user)
            book.answer(user, "withdrawn")
            self.consenting[user] = False
            return policy.reply(
                "forgotten", turns=receipt.counts.get("turns", 0),
                feedback=receipt.counts.get("feedback", 0),
            )  # fmt: skip
        if command.action == "status":
            return self.status(user)
        assert command.rating is not None
        turn = self.last_turn.get(session)
        if turn is None:
            return policy.reply("nothing_to_rate")
        if not book.feedback(user, session, turn, command.rating, command.comment):
            return policy.reply("status_off" if book.mode == "off" else "not_recording")
        return policy.reply("flagged" if command.rating == "flag" else "rated")

    def asks_audio_next(self, user: str, command: Notice) -> bool:
        """After a yes to records, audio is asked apart, when the configuration keeps it."""
        book = self.book
        return (
            command.consent == "granted"
            and command.kind == "records"
            and book.settings.audio
            and book.mode == "ask"
            and book.answer_of(user, "audio") is None
        )

    def status(self, user: str) -> str:
        book, policy = self.book, self.book.policy
        if book.mode == "off":
            return policy.reply("status_off")
        if book.recording(user):
            at = book.consented_at(user) or time.time()
            return policy.reply(
                "status_granted", date=time.strftime("%d %B %Y", time.localtime(at))
            )
        answer = book.answer_of(user)
        return policy.reply("status_unasked" if answer is None else "status_declined")

    def wants(self, session_id: str, turn_id: int) -> bool:
        """A turn of a user who had consented when it was said (and not about the records)."""
        return (session_id, turn_id) in self.turn_kept

    def keep(self, session_id: str, record: dict[str, Any], plan: Any, audio: bytes | None) -> None:
        """A finished turn (called by the session): written later if its user consented."""
        said_at = self.turn_kept.pop((session_id, record.get("turn", 0)), None)
        if session_id not in self.users or said_at is None:
            return  # not one of this pipeline's sessions, not consented, or about the records
        if not self.plan_info:
            self.plan_info = plan_info(plan)
        self.book.keep(self.users[session_id], session_id, record, self.plan_info, audio, said_at)

    def rate(self, session_id: str, turn: int, rating: str, comment: str) -> None:
        """A rating given outside a turn (a browser's button), stored if the user consented."""
        user = self.users.get(session_id)
        kind = BUTTONS.get(rating)
        if user is not None and kind is not None:
            self.book.submit(self.book.feedback, user, session_id, turn, kind, comment)


def notice_entity(text: str) -> Entity:
    return Entity(entity=MESSAGE, value=text, text=text, start=0, end=0)


def notice_parse(session_id: str, turn_id: int, text: str, said: str = "") -> Parse:
    entity = notice_entity(text)
    return Parse(
        session_id=session_id,
        turn_id=turn_id,
        text=said,
        intent=IntentScore(name=NOTICE, confidence=1.0),
        entities=(entity,),
    )


def default_user(session_id: str) -> str:
    """Whose session it is when the front end did not say: this computer's user."""
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): the session is its own user
        return session_id


def plan_info(plan: Any) -> dict[str, Any]:
    """The model of each stage, and a hash of the whole configuration (models and params)."""
    stages = [
        (s.kind, s.model, s.cls.backend, s.params.model_dump(mode="json")) for s in plan.stages
    ]
    digest = hashlib.sha256(json.dumps(stages, sort_keys=True, default=str).encode()).hexdigest()
    return {"models": {kind: model for kind, model, _, _ in stages}, "config_hash": digest}
