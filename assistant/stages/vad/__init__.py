"""Voice activity detection backends: cut an audio stream into utterances."""
