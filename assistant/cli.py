"""The `assistant` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from assistant import __version__
from assistant.audio.devices import NoAudioDevice
from assistant.audio.wav import AudioFileError
from assistant.commands.audio import cmd_say, cmd_transcribe
from assistant.commands.common import (
    add_models_option,
    add_pipeline_options,
    add_session_options,
    build_plan,
    knowledge_paths,
    lazy,
)
from assistant.commands.data import add_data_commands, add_learn_command
from assistant.commands.models import cmd_models, cmd_models_prepare
from assistant.commands.serve_options import add_serve_arguments
from assistant.commands.voice import cmd_voice
from assistant.core.errors import ConfigError, StageLoadError
from assistant.core.paths import default_state_dir
from assistant.core.planner import PipelinePlan
from assistant.core.runner import Pipeline
from assistant.core.stage import StageContext
from assistant.messages import Reply, Transcript
from assistant.session import TextSession, TurnRecord
from assistant.skills.loader import SkillError
from assistant.stages import KINDS, registry
from assistant.stages.records.commands import COMMANDS as RECORD_COMMANDS
from assistant.trace import waterfall

log = logging.getLogger("assistant")
SHOWN_KEYS = ("image", "custom")  # buttons are in the words already, numbered

REPL_HELP = """\
Type a message and press Enter. Commands:
  /help    show this help
  /reset   forget the conversation (slots, shopping list, timers) and start over
  /trace   turn the per-stage timing waterfall on or off
  /good, /bad [why], /flag [why]   rate the last answer (kept only if you agreed to records)
  /consent [yes|no|stop]           what is recorded, or your answer; /consent audio yes|no
  /forget  delete everything recorded about you
  /quit    leave (Ctrl-D works too)"""


def history_file() -> Path:
    return default_state_dir() / "chat_history"


# --- chat ----------------------------------------------------------------------------------------


class ChatPrinter:
    """Writes each turn the way the chosen mode wants it."""

    def __init__(self, *, as_json: bool, trace: bool, one_line: bool, out: TextIO) -> None:
        self.as_json = as_json
        self.trace = trace
        self.one_line = one_line
        self.out = out

    def proactive(self, reply: Reply) -> None:
        """A reply nobody asked for just now (a timer ending): printed as soon as it comes."""
        if self.as_json:
            data = {
                "proactive": True,
                "session": reply.session_id,
                "text": reply.text,
                "intent": reply.intent,
            }
            print(json.dumps(data, ensure_ascii=False), file=self.out)
        elif self.one_line:
            print(" ".join(reply.text.split()), file=self.out)
        else:
            # The prompt is waiting for input: start a fresh line, then show the prompt again.
            print(f"\rassistant> {reply.text}\nyou> ", end="", file=self.out)
        self.out.flush()

    def turn(self, record: TurnRecord) -> None:
        for error in record.errors:
            print(
                f"assistant: stage {error.stage} failed ({error.error_type}: {error.detail}); "
                "the session goes on",
                file=sys.stderr,
            )
        if self.trace:
            print(waterfall(record), file=sys.stderr)
        if self.as_json:
            print(json.dumps(record.to_json(), ensure_ascii=False), file=self.out)
            self.out.flush()
            return
        # A terminal shows what a client would (an image, a custom payload) as a line of its own.
        shown = [
            f"({key}: {value if isinstance(value, str) else json.dumps(value)})"
            for response in record.shown
            for key, value in response.items()
            if key in SHOWN_KEYS
        ]
        if self.one_line:  # one line per turn, for scripts
            print(" ".join(" ".join([record.text, *shown]).split()), file=self.out)
        else:
            for line in filter(None, [record.text, *shown]):
                print(f"assistant> {line}", file=self.out)
        self.out.flush()


async def _chat(args: argparse.Namespace, plan: PipelinePlan) -> int:
    interactive = args.once is None and sys.stdin.isatty()
    if interactive:
        print("Loading models...", file=sys.stderr)
    context = StageContext(
        skill_dirs=plan.skill_dirs,
        knowledge_paths=await asyncio.to_thread(knowledge_paths, args.knowledge),
    )
    pipeline = Pipeline(plan, context=context)
    # A one-shot or scripted run loads what a turn may need (the language model, the PII
    # analyzer) only when a turn needs it; an interactive one loads it while the user types.
    await pipeline.start(prefetch=interactive)
    printer = ChatPrinter(
        as_json=args.json, trace=args.trace, one_line=not interactive, out=sys.stdout
    )
    session = TextSession(
        pipeline,
        session_id=args.session,
        on_proactive=printer.proactive,
        user=args.user,
        interactive=args.once is None,
    )
    try:
        await session.begin()
        if args.once is not None:
            if not args.once.strip():
                raise ConfigError("--once: the text is empty; say something, e.g. --once 'hello'")
            printer.turn(await session.say(args.once))
        elif interactive:
            await _repl(session, printer, plan)
        else:
            await _read_lines(session, printer)
        _mention_pending_timers(session, plan)
        await session.end()
    finally:
        session.close()
        await pipeline.stop()
    return 0


def _mention_pending_timers(session: TextSession, plan: PipelinePlan) -> None:
    """The chat is ending with timers still running: say when they end and where they are
    kept, rather than let them vanish silently."""
    pending = session.pending_reminders()
    if not pending:
        return
    times = ", ".join(time.strftime("%H:%M:%S", time.localtime(r.trigger_at)) for r in pending)
    count = f"{len(pending)} timer{'s' if len(pending) > 1 else ''}"
    dst = next((stage for stage in plan.stages if stage.kind == "dst"), None)
    if dst is not None and getattr(dst.params, "store", None) == "sqlite":
        where = (
            f"kept with the session: `assistant chat --session {session.session_id}` picks "
            f"{'them' if len(pending) > 1 else 'it'} up"
        )
    else:
        where = "this pipeline keeps no sessions, so it ends with the chat"
    print(f"assistant: {count} still running (ending {times}); {where}.", file=sys.stderr)


async def _read_lines(session: TextSession, printer: ChatPrinter) -> None:
    """Piped input: each non-empty line is one turn of the same session."""
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        if line.strip():
            printer.turn(await session.say(line.strip()))


async def _repl(session: TextSession, printer: ChatPrinter, plan: PipelinePlan) -> None:
    import readline  # importing it gives input() line editing and history

    history = history_file()
    with contextlib.suppress(OSError):
        readline.read_history_file(history)
    readline.set_history_length(1000)
    stages = ", ".join(f"{s.kind}={s.model}" for s in plan.stages)
    print(f"Ready ({plan.name} pipeline: {stages}). Type /help for commands.", file=sys.stderr)
    try:
        while True:
            try:
                line = (await asyncio.to_thread(input, "you> ")).strip()
            except EOFError:
                print(file=sys.stderr)
                return
            if not line:
                continue
            if line.startswith("/") and line.split()[0].lower() not in RECORD_COMMANDS:
                if not await _command(line, session, printer):
                    return
                continue
            record = await session.say(line)
            _keep_redacted_in_history(readline, line, record)
            printer.turn(record)
    finally:
        history.parent.mkdir(parents=True, exist_ok=True)
        try:
            readline.write_history_file(history)
        except OSError as exc:
            log.warning("could not save the chat history to %s: %s", history, exc.strerror)


def _keep_redacted_in_history(readline: Any, line: str, record: TurnRecord) -> None:
    """The line history is stored on disk: keep what the guard redacted out of it too."""
    stored = record.input_text
    length = readline.get_current_history_length()
    if stored is not None and stored != line and length > 0:
        readline.replace_history_item(length - 1, stored)


async def _command(line: str, session: TextSession, printer: ChatPrinter) -> bool:
    """Run a /command; returns False when the chat should end."""
    command = line.split()[0].lower()
    if command in ("/quit", "/exit"):
        return False
    if command == "/help":
        print(REPL_HELP, file=sys.stderr)
    elif command == "/reset":
        await session.reset()
        print(f"Conversation reset (session {session.session_id}).", file=sys.stderr)
    elif command == "/trace":
        printer.trace = not printer.trace
        print(f"Trace {'on' if printer.trace else 'off'}.", file=sys.stderr)
    else:
        print(f"Unknown command {command}; /help lists the commands.", file=sys.stderr)
    return True


def cmd_chat(args: argparse.Namespace) -> int:
    plan = build_plan(args)
    if plan.input_type is not Transcript:
        raise ConfigError(
            f"{plan.path}: input: the {plan.name!r} pipeline takes audio; chat needs a pipeline "
            "with 'input: text' (e.g. --pipeline text)"
        )
    return asyncio.run(_chat(args, plan))


# --- stages --------------------------------------------------------------------------------------


def cmd_stages(args: argparse.Namespace) -> int:
    for kind in registry.kinds():
        print(f"{kind}: {KINDS.get(kind, 'added by a plugin')}")
        backends = registry.for_kind(kind)
        if not backends:
            print("    (no backend installed yet)")
        for backend in backends:
            summary = (backend.cls.description or backend.cls.__doc__ or "").strip()
            first_line = summary.splitlines()[0] if summary else ""
            print(f"    {backend.name:<15} {first_line}  [{backend.origin}]")
    for problem in registry.plugin_errors:
        print(f"warning: {problem}")
    return 0


# --- entry point ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant", description="A modular voice assistant pipeline."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="log details, with tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_chat_command(commands)
    add_voice_command(commands)
    add_serve_command(commands)
    add_speech_commands(commands)
    add_catalog_commands(commands)
    add_data_commands(commands)
    add_learn_command(commands)
    return parser


Commands = argparse._SubParsersAction  # what add_subparsers returns


def add_chat_command(commands: Commands) -> None:
    chat = commands.add_parser("chat", help="talk to the assistant in the terminal")
    add_pipeline_options(chat, "text")
    chat.add_argument("--once", metavar="TEXT", help="answer TEXT, print the reply and exit")
    add_session_options(chat)
    chat.add_argument("--json", action="store_true", help="print one JSON object per turn")
    chat.add_argument(
        "--trace",
        action="store_true",
        help="print a waterfall of stage timings after each turn (to stderr)",
    )
    chat.set_defaults(func=cmd_chat)


def add_voice_command(commands: Commands) -> None:
    voice = commands.add_parser(
        "voice", help="talk to the assistant: microphone and speaker, or WAV files"
    )
    add_pipeline_options(voice, "voice")
    voice.add_argument(
        "--input", type=Path, metavar="FILE.wav", help="listen to a file instead of the microphone"
    )
    voice.add_argument(
        "--output",
        type=Path,
        metavar="FILE.wav",
        help="write the spoken replies to a file instead of the speaker",
    )
    voice.add_argument(
        "--realtime",
        action="store_true",
        help="feed --input at its own pace, as a microphone would (barge-in, latency); "
        "default: as fast as possible, replies joined in turn order",
    )
    voice.add_argument(
        "--no-barge-in", action="store_true", help="do not stop a reply when the user speaks"
    )
    add_session_options(voice)
    voice.add_argument(
        "--json", action="store_true", help="print one JSON object per turn (with transcript)"
    )
    voice.set_defaults(func=cmd_voice)


def add_serve_command(commands: Commands) -> None:
    serve = commands.add_parser(
        "serve", help="serve many conversations over HTTP (Rasa's REST channel, records, metrics)"
    )
    add_serve_arguments(serve)
    serve.set_defaults(func=lazy("assistant.commands.serve", "cmd_serve"))


def add_speech_commands(commands: Commands) -> None:
    """One stage on its own: `transcribe` (asr) and `say` (tts)."""
    transcribe = commands.add_parser("transcribe", help="speech recognition of audio files")
    transcribe.add_argument("files", nargs="+", type=Path, metavar="FILE")
    transcribe.add_argument(
        "--model", metavar="NAME", help="an asr model of the catalog (default: the voice one)"
    )
    transcribe.add_argument("--json", action="store_true", help="one JSON object per file")
    add_models_option(transcribe)
    transcribe.set_defaults(func=cmd_transcribe)

    say = commands.add_parser("say", help="speak a text, to the speaker or a WAV file")
    say.add_argument("text", metavar="TEXT")
    say.add_argument("-o", "--output", type=Path, metavar="FILE.wav", help="write a WAV file")
    say.add_argument(
        "--voice", metavar="NAME", help="a tts model of the catalog (default: the voice one)"
    )
    add_models_option(say)
    say.set_defaults(func=cmd_say)


def add_catalog_commands(commands: Commands) -> None:
    """What is installed: `models` (and `models prepare`), `stages`."""
    models = commands.add_parser("models", help="list the catalog's models and their state")
    add_models_option(models)
    models.set_defaults(func=cmd_models)
    model_commands = models.add_subparsers(dest="models_command", metavar="COMMAND")
    prepare = model_commands.add_parser(
        "prepare", help="one-time preparation: assemble and convert model weights"
    )
    prepare.add_argument("names", nargs="*", metavar="NAME", help="models to prepare (all)")
    add_models_option(prepare)
    prepare.set_defaults(func=cmd_models_prepare)

    stages = commands.add_parser("stages", help="list stage kinds and their backends")
    stages.set_defaults(func=cmd_stages)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="assistant: %(levelname)s: %(name)s: %(message)s"
        if args.debug
        else "assistant: %(message)s",
    )
    if not args.debug:  # rasa-sdk's notes to a developer ("Skipping validation for ...")
        logging.getLogger("rasa_sdk").setLevel(logging.ERROR)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ConfigError as exc:
        print(f"assistant: error: {exc}", file=sys.stderr)
        return 2
    except (StageLoadError, SkillError, NoAudioDevice, AudioFileError) as exc:
        if args.debug:
            raise
        print(f"assistant: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): no traceback. Point stdout at devnull so that the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a writer killed by the pipe


if __name__ == "__main__":
    sys.exit(main())
