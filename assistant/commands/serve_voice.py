"""The voice side of `assistant serve`: the audio pipeline of `/ws`, planned with the text one
(so a mistake is reported before any model loads) and started beside it."""

from __future__ import annotations

import argparse
import sys

from assistant.commands.common import build_plan
from assistant.core.errors import ConfigError
from assistant.core.planner import PipelinePlan
from assistant.core.runner import Pipeline
from assistant.core.stage import StageContext
from assistant.messages import AudioFrame

NO_VOICE = "none"
DEFAULT_VOICE = "voice"


def plan_voice(args: argparse.Namespace) -> PipelinePlan | None:
    """The plan of `--voice` (with the same `--models` and `--set`), or None for `none`.
    Without `--voice`, the default voice pipeline if it can be planned from the catalog given
    (a catalog of text models only serves text, and says so on stderr)."""
    if args.voice == NO_VOICE:
        return None
    if args.voice is None:
        try:
            return plan_voice(argparse.Namespace(**{**vars(args), "voice": DEFAULT_VOICE}))
        except ConfigError as exc:
            print(f"assistant: serving text only (no /ws voice): {exc}", file=sys.stderr)
            return None
    plan = build_plan(argparse.Namespace(**{**vars(args), "pipeline": args.voice}))
    if plan.input_type is not AudioFrame:
        raise ConfigError(
            f"{plan.path}: input: --voice {args.voice} takes text; give a pipeline with "
            "'input: audio' (e.g. --voice voice), or --voice none"
        )
    return plan


async def start_voice(plan: PipelinePlan | None, context: StageContext) -> Pipeline | None:
    """The started voice pipeline (the caller stops it), or None without voice."""
    if plan is None:
        return None
    pipeline = Pipeline(plan, context=context)
    await pipeline.start(prefetch=True)
    return pipeline
