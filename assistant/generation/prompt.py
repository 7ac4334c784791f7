"""Few-shot prompts for a small base (not instruction-tuned) language model.

A base model continues documents; it does not follow instructions. So the prompt is the start of
a transcript: one line saying what the conversation is, a handful of short example exchanges that
show the tone and length wanted, the last few real turns, and the user's new line followed by
`Assistant:`. The model writes the assistant's line; the stop strings end it before the model
invents the user's next one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

STOP: tuple[str, ...] = ("\nUser:", "\n\n")
"""Stop strings for prompts from `build_prompt`: the next turn, or the end of the transcript."""

SYSTEM = (
    "The following is a conversation with a friendly, concise voice assistant. "
    "The assistant answers in one or two short, spoken sentences, without lists or emoji, "
    "and says so honestly when it cannot do something."
)

# Small talk, plus one request the assistant cannot do, so a refusal is in the model's repertoire.
EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Hi there!", "Hello! How can I help you today?"),
    ("How are you doing?", "I'm doing well, thanks for asking. How about you?"),
    ("What's your favourite colour?", "I like blue. It reminds me of a clear summer sky."),
    ("I'm a bit tired today.", "Sorry to hear that. A short break might help."),
    ("Do you like music?", "I do! Jazz is one of my favourites."),
    ("Can you order me a pizza?", "Sorry, I can't order food. I can chat, though."),
)

INTENT_HINTS: Mapping[str, str] = {
    "chitchat": "The user is making small talk.",
    "out_of_scope": "The assistant cannot do this and says so briefly.",
    "nlu_fallback": "The assistant is not sure what the user means and asks briefly.",
    "greet": "The user is greeting the assistant.",
    "goodbye": "The user is saying goodbye.",
    "thanks": "The user is thanking the assistant.",
    "bot_challenge": "The user asks if they are talking to a machine; it is a voice assistant.",
    "tell_joke": "The user wants a short, clean joke.",
    "help": "The user asks what the assistant can do.",
}

# Extra exchanges for some intents, after the shared ones (so the shared prefix stays cacheable):
# a 270M base model imitates examples far more reliably than it follows a described rule.
INTENT_EXAMPLES: Mapping[str, tuple[tuple[str, str], ...]] = {
    "out_of_scope": (
        ("Can you fix my sink?", "Sorry, I can't do that. A plumber could help, though."),
        ("Book me a flight to Rome.", "Sorry, I can't book flights."),
    ),
    "bot_challenge": (
        ("Am I talking to a real person?", "No, I'm a voice assistant, a computer program."),
    ),
    "tell_joke": (
        (
            "Tell me a joke.",
            "Why did the scarecrow win an award? Because he was outstanding in his field.",
        ),
    ),
}

MAX_HISTORY_TURNS = 3
_MAX_TEXT = 300  # characters of one turn: a runaway transcript must not fill the context
_MAX_SLOTS = 8


def _one_line(text: str, limit: int = _MAX_TEXT) -> str:
    """Text as a single transcript line: a newline in it would start a fake turn."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def intent_hint(intent: str | None) -> str:
    """One line describing the turn to the model, or "" when the intent says nothing useful."""
    if not intent:
        return ""
    if intent in INTENT_HINTS:
        return INTENT_HINTS[intent]
    return f"The user's request is about: {_one_line(intent.replace('_', ' '), 60)}."


def known_facts(slots: Mapping[str, object]) -> str:
    """The filled slots as one line ("Known: the user's name is Ana; the user's city is Paris."),
    or "" when none are. A sentence works better than `name=Ana`: a 270M model rarely decodes the
    key=value form, but it does repeat a fact stated in plain words."""
    facts = [
        f"the user's {_one_line(name.replace('_', ' '), 40)} is {_one_line(str(value), 60)}"
        for name, value in slots.items()
        if value is not None and str(value).strip()
    ]
    return f"Known: {'; '.join(facts[:_MAX_SLOTS])}." if facts else ""


def build_prompt(
    user_text: str,
    intent: str | None,
    slots: Mapping[str, object],
    history: Sequence[tuple[str, str]],
) -> str:
    """The few-shot transcript for one reply; generate with stop strings `STOP`.

    `history` holds earlier (user, assistant) exchanges of this session, oldest first; only the
    last `MAX_HISTORY_TURNS` are used. The intent and the known slots become one note placed
    after the examples, just before the live turns: close to where the model writes, and after
    the shared header, so llama.cpp can reuse that header's cache from turn to turn.
    """
    lines = [SYSTEM, ""]
    for user, assistant in (*EXAMPLES, *INTENT_EXAMPLES.get(intent or "", ())):
        lines += [f"User: {user}", f"Assistant: {assistant}"]
    lines.append("")
    context = " ".join(part for part in (intent_hint(intent), known_facts(slots)) if part)
    if context:
        # A note of its own, not a line of the transcript: in trials the model echoed a
        # "(...)" line back as its reply, and recalled a known name more often from a note.
        lines += [f"Note: {context}", ""]
    for user, assistant in list(history)[-MAX_HISTORY_TURNS:]:
        lines += [f"User: {_one_line(user)}", f"Assistant: {_one_line(assistant)}"]
    lines += [f"User: {_one_line(user_text)}", "Assistant:"]
    return "\n".join(lines)
