"""Few-shot prompts for a small base (not instruction-tuned) language model.

A base model continues documents; it does not follow instructions. So the prompt is the start of
a transcript: one line saying what the conversation is, a handful of short example exchanges that
show the tone and length wanted, the last few real turns, and the user's new line followed by
`Assistant:`. The model writes the assistant's line; the stop strings end it before the model
invents the user's next one.

The first line and the examples come from the persona (`assistant.persona`): the model gives the
same name as the templates do. Small talk must state no facts: the examples show the assistant
claiming no tastes or life of its own and meeting questions of fact with "I don't know".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from assistant.persona import Persona, load_persona

STOP: tuple[str, ...] = ("\nUser:", "\n\n")
"""Stop strings for prompts from `build_prompt`: the next turn, or the end of the transcript."""

# The persona (assistant/policies/persona.yaml) fills the {placeholders} of the first line and the
# examples, so what the model says about itself agrees with the templates.
SYSTEM = (
    "The following is a conversation with {name}, {description}. {name} is {traits}, and "
    "answers in one or two short, spoken sentences, without lists or emoji. {name} is a computer "
    "program: it has no age, home, favourites or memories, and it knows no facts."
)

# Small talk that states no facts and claims no tastes, age, home or day of its own, questions of
# fact met with "I don't know", and some warmth. A 270M base model imitates examples far more
# reliably than it follows the line above; each one here stopped a kind of made-up answer seen in
# greedy trials ("I'm 20.", "I live in the United States.", "I got up at 6:00 am."). A refusal
# ("Sorry, I can't order food.") made it refuse small talk ("I can't talk to you."): refusals are
# in the out_of_scope examples only.
EXAMPLES: tuple[tuple[str, str], ...] = (
    ("How are you doing?", "I'm doing well, thanks for asking. How about you?"),
    ("What's your name?", "I'm {name}, {description}."),
    ("I had a long day at work.", "That sounds tiring. I hope you can rest this evening."),
    ("What's your favourite colour?", "I don't have favourites, but I'd like to hear yours."),
    ("Where do you live?", "Right here, on this computer."),
    ("How old are you?", "I'm a computer program, so I don't have an age."),
    ("What have you been up to today?", "Nothing much, I've been right here. How about you?"),
    ("Can we just chat for a bit?", "Of course! What's on your mind?"),
    ("Who won the game last night?", "I don't know, sorry. I can't look that up."),
    ("Tell me a fun fact.", "I don't know any facts I could vouch for. How about a joke?"),
    ("I feel a bit down today.", "I'm sorry to hear that. Do you want to talk about it?"),
)

# No note for small talk: in trials with Gemma 3 270M (greedy), "The user is making small talk."
# before the turn brought back made-up ages, homes and days ("I'm 20.", "I got up to work.")
# that the examples alone keep away.
INTENT_HINTS: Mapping[str, str] = {
    "chitchat": "",
    "out_of_scope": "{name} cannot do this and says so briefly.",
    "nlu_fallback": "{name} is not sure what the user means and asks briefly.",
    "greet": "The user is greeting {name}.",
    "goodbye": "The user is saying goodbye.",
    "thanks": "The user is thanking {name}.",
    "bot_challenge": "The user asks if they are talking to a machine; {name} is a program.",
    "ask_name": "The user asks for {name}'s name.",
    "ask_creator": "The user asks who made {name}: {maker}.",
    "tell_joke": "The user wants a short, clean joke.",
    "help": "The user asks what {name} can do.",
}

# Extra exchanges for some intents, after the shared ones (so the shared prefix stays cacheable).
INTENT_EXAMPLES: Mapping[str, tuple[tuple[str, str], ...]] = {
    "out_of_scope": (
        ("Can you fix my sink?", "Sorry, I can't do that. A plumber could help, though."),
        ("Book me a flight to Rome.", "Sorry, I can't book flights."),
    ),
    "bot_challenge": (
        ("Am I talking to a real person?", "No, I'm {name}, a voice assistant. I'm a program."),
    ),
    "ask_creator": (("Who made you?", "I was made by {maker}."),),
    "tell_joke": (
        (
            "Tell me a joke.",
            "Why did the scarecrow win an award? Because he was outstanding in his field.",
        ),
    ),
}


def persona_text(text: str, persona: Persona) -> str:
    """One of the prompt's own lines with the persona's {name}, {description}, {maker} and
    {traits} filled in (never the user's words: their braces are theirs)."""
    return text.format(
        name=persona.name,
        description=persona.description,
        maker=persona.maker,
        traits=persona.traits_text(),
    )


MAX_HISTORY_TURNS = 3
_MAX_TEXT = 300  # characters of one turn: a runaway transcript must not fill the context
_MAX_SLOTS = 8


def _one_line(text: str, limit: int = _MAX_TEXT) -> str:
    """Text as a single transcript line: a newline in it would start a fake turn."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def intent_hint(intent: str | None, persona: Persona | None = None) -> str:
    """One line describing the turn to the model, or "" when the intent says nothing useful."""
    if not intent:
        return ""
    if intent in INTENT_HINTS:
        hint = INTENT_HINTS[intent]
        return persona_text(hint, persona or load_persona()) if hint else ""
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
    persona: Persona | None = None,
) -> str:
    """The few-shot transcript for one reply; generate with stop strings `STOP`.

    `history` holds earlier (user, assistant) exchanges of this session, oldest first; only the
    last `MAX_HISTORY_TURNS` are used. `persona` (default: the shipped one) names and describes
    the assistant in the first line and the examples. The intent and the known slots become one
    note placed after the examples, just before the live turns: close to where the model writes,
    and after the shared header, so llama.cpp can reuse that header's cache from turn to turn.
    """
    persona = persona or load_persona()
    lines = [persona_text(SYSTEM, persona), ""]
    for user, assistant in (*EXAMPLES, *INTENT_EXAMPLES.get(intent or "", ())):
        lines += [f"User: {user}", f"Assistant: {persona_text(assistant, persona)}"]
    lines.append("")
    hint = intent_hint(intent, persona)
    context = " ".join(part for part in (hint, known_facts(slots)) if part)
    if context:
        # A note of its own, not a line of the transcript: in trials the model echoed a
        # "(...)" line back as its reply, and recalled a known name more often from a note.
        lines += [f"Note: {context}", ""]
    for user, assistant in list(history)[-MAX_HISTORY_TURNS:]:
        lines += [f"User: {_one_line(user)}", f"Assistant: {_one_line(assistant)}"]
    lines += [f"User: {_one_line(user_text)}", "Assistant:"]
    return "\n".join(lines)
