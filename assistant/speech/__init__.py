"""Speech engines as plain libraries: endpointing (`vad`), recognition (`whisper`, `asr_ct2`,
`asr_openai`) and synthesis (`tts`, `tts_espeak`, `tts_piper`).

They take and return PCM bytes, text and small result records, never bus messages: the stages in
`assistant/stages/{vad,asr,tts}` adapt them to messages. Models load when an engine is built,
never on importing this package.
"""
