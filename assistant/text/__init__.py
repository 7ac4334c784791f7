"""Text utilities shared by stages (sentence splitting for streaming speech, ...)."""
