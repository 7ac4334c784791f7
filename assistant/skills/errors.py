"""The one error skill files raise."""

from __future__ import annotations


class SkillError(Exception):
    """A skill file is missing or malformed; the message names the file and the entry."""
