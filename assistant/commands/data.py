"""The options of `assistant data forget|export|stats` and `assistant learn`; their code, and
its imports (Presidio, matplotlib, the store), loads only when one of them runs
(`assistant.commands.data_commands`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from assistant.commands.common import add_pipeline_options, lazy

IMPL = "assistant.commands.data_commands"


def add_learn_command(commands: argparse._SubParsersAction) -> None:
    learn = commands.add_parser(
        "learn", help="turn corrections into training examples; kept if accuracy holds"
    )
    add_pipeline_options(learn, "text")
    learn.add_argument(
        "--heldout", type=Path, metavar="NLU.yml",
        help="the held-out set the change must not do worse on (default: the project's)",
    )  # fmt: skip
    learn.add_argument(
        "--min-count", type=int, default=1, metavar="N",
        help="teachings of the same words needed before they are learned (default: 1)",
    )  # fmt: skip
    learn.set_defaults(func=lazy(IMPL, "cmd_learn"))


def add_data_commands(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="the conversation records kept with consent")
    actions = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    forget = actions.add_parser(
        "forget", help="delete everything kept about a user: memory, records, conversations, caches"
    )
    forget.add_argument("--user", required=True, metavar="ID", help="the user to forget")
    add_pipeline_options(forget, "text")
    forget.set_defaults(func=lazy(IMPL, "cmd_data_forget"))

    export_ = actions.add_parser("export", help="write training data from consented records")
    export_.add_argument(
        "--format", required=True, metavar="FORMAT", help="sft, kto, dpo or rasa-nlu"
    )
    export_.add_argument("--out", required=True, type=Path, metavar="DIR", help="a new folder")
    export_.add_argument(
        "--include-safety", action="store_true",
        help="keep turns where the guard or filter fired, labelled (left out by default)",
    )  # fmt: skip
    add_pipeline_options(export_, "text")
    export_.set_defaults(func=lazy(IMPL, "cmd_data_export"))

    stats = actions.add_parser("stats", help="counts, ratings per intent, flags; a plot")
    stats.add_argument("--plot", type=Path, metavar="FILE.png", help="also draw them")
    add_pipeline_options(stats, "text")
    stats.set_defaults(func=lazy(IMPL, "cmd_data_stats"))
