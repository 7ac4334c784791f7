"""The options of `assistant serve`, apart from its code: building the command line must not
import the server (aiohttp, wyoming), which `assistant chat` never needs."""

from __future__ import annotations

import argparse

from assistant.commands.common import add_knowledge_option, add_pipeline_options

TOKEN_ENV = "ASSISTANT_TOKEN"


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    add_pipeline_options(parser, "text")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="the address to listen on (default: 127.0.0.1, this machine only); any other "
        "needs a token",
    )
    parser.add_argument(
        "--port", type=int, default=8080, metavar="N", help="the TCP port (default: 8080; 0: any)"
    )
    parser.add_argument(
        "--token",
        metavar="TOKEN",
        help=f"require this token on every request (default: ${TOKEN_ENV}, which other "
        "users cannot see in the process list)",
    )
    add_knowledge_option(parser)
    parser.add_argument(
        "--voice",
        metavar="NAME|PATH|none",
        help="the audio pipeline of /ws and the browser client (default: voice, when the "
        "catalog has its models; none: text only)",
    )
    add_wyoming_options(parser)


def add_wyoming_options(parser: argparse.ArgumentParser) -> None:
    """`--wyoming URI` and `--wyoming-allow-remote`, for `assistant serve`."""
    parser.add_argument(
        "--wyoming",
        metavar="URI",
        help="also serve Home Assistant's Wyoming protocol (speech-to-text, text-to-speech, "
        "conversation agent) on URI, e.g. tcp://127.0.0.1:10300",
    )
    parser.add_argument(
        "--wyoming-allow-remote",
        action="store_true",
        help="let --wyoming bind a non-loopback address (Wyoming has no authentication)",
    )
