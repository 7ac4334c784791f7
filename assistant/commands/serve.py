"""`assistant serve`: load the pipeline once and serve many conversations over HTTP.

Loopback by default; any other address needs a token (`--token` or `ASSISTANT_TOKEN`).
SIGTERM or Ctrl-C: stop accepting, let the turns in flight finish, end every conversation (the
stores are flushed), exit 0. A second one stops at once.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import signal
import sys

from aiohttp import web

from assistant.commands.common import build_plan, knowledge_paths
from assistant.commands.serve_options import TOKEN_ENV
from assistant.commands.serve_voice import plan_voice, start_voice
from assistant.core.errors import ConfigError
from assistant.core.planner import PipelinePlan
from assistant.core.runner import Pipeline
from assistant.core.stage import StageContext
from assistant.messages import Transcript
from assistant.server.http import make_app
from assistant.server.hub import ConversationHub
from assistant.server.voice_link import VoiceService
from assistant.server.ws import add_voice_routes
from assistant.server.wyoming import WyomingServer, check_uri
from assistant.server.wyoming_speech import SpeechOptions


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def cmd_serve(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(args.host) and token is None:
        raise ConfigError(
            f"--host {args.host} lets other machines in: give a token (--token or "
            f"${TOKEN_ENV}), or keep the default --host 127.0.0.1"
        )
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: give a port between 0 and 65535")
    plan = build_plan(args)
    if plan.input_type is not Transcript:
        raise ConfigError(
            f"{plan.path}: input: the {plan.name!r} pipeline takes audio; serve needs a "
            "pipeline with 'input: text' (e.g. --pipeline text)"
        )
    args.voice_plan = plan_voice(args)  # checked now: a mistake costs no loading
    if args.wyoming:
        check_uri(args.wyoming, args.wyoming_allow_remote)
    return asyncio.run(_serve(args, plan, token))


async def _serve(args: argparse.Namespace, plan: PipelinePlan, token: str | None) -> int:
    print("Loading models...", file=sys.stderr, flush=True)
    context = StageContext(
        skill_dirs=plan.skill_dirs,
        knowledge_paths=await asyncio.to_thread(knowledge_paths, args.knowledge),
    )
    pipeline = Pipeline(plan, context=context)
    await pipeline.start(prefetch=True)
    hub = ConversationHub(pipeline)
    voice = await start_voice(args.voice_plan, context)
    app = build_app(hub, token, VoiceService(voice) if voice else None)
    # No access log: URLs may carry the token (?token=), and turns are counted in /metrics.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=hub.turn_timeout + 5)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop_gently() -> None:
        stop.set()
        for signum in (signal.SIGTERM, signal.SIGINT):  # a second signal stops at once
            loop.remove_signal_handler(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_gently)
    wyoming: WyomingServer | None = None
    try:
        await runner.setup()
        try:
            await web.TCPSite(runner, args.host, args.port).start()
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
            ) from exc
        print(f"Serving the {plan.name} pipeline at {_url(runner)}", flush=True)
        wyoming = await _start_wyoming(args, hub, plan)
        await stop.wait()
        print("Stopping: finishing the turns in flight...", file=sys.stderr, flush=True)
    finally:
        await runner.cleanup()  # stops accepting, then waits for the requests in flight
        if wyoming is not None:
            await wyoming.stop(grace_s=hub.turn_timeout + 5)
        await hub.close()
        await pipeline.stop()
        if voice is not None:
            await voice.stop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    return 0


async def _start_wyoming(
    args: argparse.Namespace, hub: ConversationHub, plan: PipelinePlan
) -> WyomingServer | None:
    """Home Assistant's protocol beside HTTP, on the same conversations (`--wyoming`)."""
    if not args.wyoming:
        return None
    server = WyomingServer(
        args.wyoming,
        hub,
        SpeechOptions.from_catalog(args.models, skill_dirs=plan.skill_dirs),
        agent=plan.name,
        allow_remote=args.wyoming_allow_remote,
    )
    await server.start()
    print(f"Serving Home Assistant's Wyoming protocol at {server.address}", flush=True)
    return server


def build_app(
    hub: ConversationHub, token: str | None, voice: VoiceService | None = None
) -> web.Application:
    """Everything served over HTTP; other front ends add their routes to this app. `/ws` and
    the browser client are there with or without `voice` (without, `/ws` says it is off)."""
    app = make_app(hub, token=token)
    add_voice_routes(app, voice)
    return app


def _url(runner: web.AppRunner) -> str:
    host, port = runner.addresses[0][:2]  # the bound port, when --port 0 let the system pick
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
