"""Home Assistant's voice protocol (Wyoming): the assistant as speech-to-text, text-to-speech
and conversation agent, on models loaded once and shared by every connection.

`WyomingServer` is what `assistant serve --wyoming URI` runs beside HTTP, on its conversations;
`python -m assistant.server.wyoming --uri tcp://127.0.0.1:10300` runs it alone, for trying it
out. What each event does is in `assistant.server.wyoming_handler`; the models and voices, and
the `info` that advertises them, in `assistant.server.wyoming_speech`.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from wyoming.server import AsyncServer

from assistant.commands.common import add_pipeline_options, build_plan
from assistant.core.errors import ConfigError
from assistant.core.planner import PipelinePlan
from assistant.core.runner import Pipeline
from assistant.core.stage import StageContext
from assistant.server.hub import ConversationHub
from assistant.server.wyoming_handler import AssistantHandler, Conversations, Services
from assistant.server.wyoming_speech import Recognizers, SpeechOptions, Voices, build_info

__all__ = [
    "Conversations",
    "SpeechOptions",
    "WyomingServer",
    "check_uri",
    "serve_wyoming",
]

log = logging.getLogger(__name__)

# --- the server ------------------------------------------------------------------------------


def check_uri(
    uri: str,
    allow_remote: bool = False,
    *,
    option: str = "--wyoming",
    allow: str = "--wyoming-allow-remote",
) -> str:
    """The URI to listen on, or a ConfigError: tcp://HOST:PORT or unix://PATH. Wyoming has
    no authentication, so a TCP host other than loopback must be asked for explicitly."""
    parsed = urlparse(uri)
    if parsed.scheme == "unix" and parsed.path:
        return uri
    if parsed.scheme != "tcp" or not parsed.hostname or parsed.port is None:
        raise ConfigError(
            f"{option} {uri}: give tcp://HOST:PORT (e.g. tcp://127.0.0.1:10300) or unix://PATH"
        )
    if not allow_remote and not _loopback(parsed.hostname):
        raise ConfigError(
            f"{option} {uri}: Wyoming has no authentication, so anyone who can reach "
            f"{parsed.hostname} could use the assistant; bind 127.0.0.1, or allow it "
            f"explicitly ({allow}) behind a firewall"
        )
    return uri


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WyomingServer:
    """Loads the speech models, then serves Wyoming on `uri` until `stop`."""

    def __init__(
        self,
        uri: str,
        conversations: Conversations,
        options: SpeechOptions | None = None,
        *,
        agent: str = "assistant",
        allow_remote: bool = False,
    ) -> None:
        self.uri = check_uri(uri, allow_remote)
        self.conversations = conversations
        self.options = options or SpeechOptions()
        self.agent = agent
        self._server: AsyncServer | None = None
        self._handlers: dict[asyncio.Task[Any], AssistantHandler] = {}

    async def start(self) -> None:
        """Load the default model and voice (so the first request is not slow), then listen."""
        self.recognizers = recognizers = Recognizers(self.options)
        self.voices = voices = await asyncio.to_thread(Voices, self.options)
        await recognizers.get(recognizers.check(None, None))
        await voices.load(voices.pick(None, None))
        info = await asyncio.to_thread(build_info, recognizers, voices, self.agent)
        services = Services(self.conversations, recognizers, voices, info.event())
        self._server = AsyncServer.from_uri(self.uri)
        await self._server.start(
            lambda reader, writer: AssistantHandler(reader, writer, services, self._handlers)
        )
        log.info("wyoming: listening on %s", self.address)

    @property
    def address(self) -> str:
        """The URI as bound (with the port the system chose for tcp://...:0)."""
        listener = getattr(self._server, "_server", None)
        parsed = urlparse(self.uri)
        if parsed.scheme != "tcp" or listener is None or not listener.sockets:
            return self.uri
        port = listener.sockets[0].getsockname()[1]
        return f"tcp://{parsed.hostname}:{port}"

    async def stop(self, grace_s: float = 30.0) -> None:
        """Stop accepting, let events being handled (a turn) finish for up to `grace_s`,
        then close every connection."""
        if self._server is None:
            return
        listener = getattr(self._server, "_server", None)
        if listener is not None:
            listener.close()  # no new connections
        for handler in list(self._handlers.values()):
            handler._is_running = False  # read no further event
            if not handler.busy:
                await handler.stop()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=grace_s)
        await self._server.stop()
        self._server = None


async def serve_wyoming(
    uri: str,
    conversations: Conversations,
    options: SpeechOptions | None = None,
    *,
    agent: str = "assistant",
    allow_remote: bool = False,
    started: Callable[[WyomingServer], None] | None = None,
) -> None:
    """Serve Wyoming until cancelled (what `assistant serve --wyoming URI` runs beside HTTP);
    `started` is called once it listens."""
    server = WyomingServer(uri, conversations, options, agent=agent, allow_remote=allow_remote)
    await server.start()
    try:
        if started is not None:
            started(server)
        await asyncio.Event().wait()
    finally:
        await server.stop()


# --- standalone: python -m assistant.server.wyoming --------------------------------------------


async def _serve(args: argparse.Namespace, plan: PipelinePlan) -> None:
    pipeline = Pipeline(plan, context=StageContext(skill_dirs=plan.skill_dirs))
    await pipeline.start(prefetch=False)
    conversations = ConversationHub(pipeline)
    serving = asyncio.current_task()
    assert serving is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, serving.cancel)
    try:
        await serve_wyoming(
            args.uri,
            conversations,
            SpeechOptions.from_catalog(args.models, skill_dirs=plan.skill_dirs),
            agent=plan.name,
            allow_remote=args.allow_remote,
            started=lambda server: print(f"Wyoming on {server.address}", file=sys.stderr),
        )
    finally:
        await conversations.close()
        await pipeline.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m assistant.server.wyoming",
        description="Serve the assistant to Home Assistant over Wyoming (speech-to-text, "
        "text-to-speech, conversation agent).",
    )
    parser.add_argument(
        "--uri", default="tcp://127.0.0.1:10300", help="tcp://HOST:PORT or unix://PATH"
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback host (no auth!)"
    )
    parser.add_argument("--debug", action="store_true", help="log every event")
    add_pipeline_options(parser, "text")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING)
    logging.getLogger("assistant.server").setLevel(logging.DEBUG if args.debug else logging.INFO)
    try:
        check_uri(args.uri, args.allow_remote, option="--uri", allow="--allow-remote")
        asyncio.run(_serve(args, build_plan(args)))
    except ConfigError as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
