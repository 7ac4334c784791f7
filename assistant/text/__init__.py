"""Text utilities shared by stages (sentence splitting for streaming speech, how much of a
reply is spoken, ...)."""
