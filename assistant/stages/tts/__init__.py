"""Speech synthesis backends: Reply in, one SpeechChunk per sentence out (see `base`)."""
