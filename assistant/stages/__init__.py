"""The built-in stage backends, listed: kind, backend name and where the class is. Nothing is
imported here; a backend's module is imported when a pipeline uses it (`assistant.core.registry`).
Plugins list theirs the same way, as entry points named `kind.backend`."""

from __future__ import annotations

from assistant.core.registry import Registry

KINDS: dict[str, str] = {
    "vad": "voice activity detection (endpointing)",
    "asr": "speech recognition",
    "guard": "input guard: refuses harmful requests, redacts personal data",
    "sentiment": "sentiment of the user's utterance",
    "nlu": "intent detection and entities",
    "records": "consent to conversation records, ratings and corrections",
    "dst": "dialogue state tracking",
    "memory": "per-user memory: the user's name, units and facts as slots, across sessions",
    "respond": "response generation",
    "tone": "sentiment-aware tone adjustment",
    "filter": "response filtering",
    "tts": "speech synthesis",
}
"""The stage kinds of the product, in pipeline order. Plugins may add kinds of their own."""

BUILTIN_BACKENDS: dict[tuple[str, str], str] = {
    ("vad", "silero"): "assistant.stages.vad.silero:SileroVAD",
    ("vad", "smart-turn"): "assistant.stages.vad.smart_turn:SmartTurnVAD",
    ("asr", "faster-whisper"): "assistant.stages.asr.whisper_ct2:FasterWhisperASR",
    ("asr", "openai-whisper"): "assistant.stages.asr.openai_whisper:OpenAIWhisperASR",
    ("guard", "constitution"): "assistant.stages.guard.constitution:ConstitutionGuard",
    ("sentiment", "embedding"): "assistant.stages.sentiment.embedding:EmbeddingSentiment",
    ("sentiment", "vader"): "assistant.stages.sentiment.vader:VaderSentiment",
    ("nlu", "embedding"): "assistant.stages.nlu.embedding:EmbeddingIntentClassifier",
    ("nlu", "tfidf"): "assistant.stages.nlu.tfidf:TfidfIntentClassifier",
    ("records", "consent"): "assistant.stages.records.consent:RecordsStage",
    ("dst", "tracker"): "assistant.stages.dst.tracker:TrackerStage",
    ("memory", "sqlite"): "assistant.stages.memory.sqlite:MemoryStage",
    ("respond", "chain"): "assistant.stages.respond.chain:ChainResponder",
    ("respond", "templates"): "assistant.stages.respond.templates:TemplateResponder",
    ("tone", "policy"): "assistant.stages.tone.adjust:PolicyTone",
    ("filter", "safety"): "assistant.stages.filter.safety:SafetyFilter",
    ("tts", "espeak"): "assistant.stages.tts.espeak:EspeakTTS",
    ("tts", "piper"): "assistant.stages.tts.piper:PiperTTS",
}

registry = Registry(BUILTIN_BACKENDS, KINDS)
"""The product's registry: the built-ins above plus whatever plugins are installed."""
