"""Text as it should be spoken: what reads fine on a screen but not aloud."""

from __future__ import annotations

import re

# A word the response filter masked ("s***": first letter, the rest starred). Read as it
# stands, TTS says "s asterisk asterisk asterisk"; aloud it is bleeped, as on the radio.
MASKED_WORD = re.compile(r"\b[^\W\d_]\*+(?![\w*])")
BLEEP = "bleep"


def speakable(text: str) -> str:
    return MASKED_WORD.sub(BLEEP, text)
