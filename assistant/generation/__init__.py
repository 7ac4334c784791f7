"""Free-text generation for replies no template covers: a small LLM behind one streaming
interface (`Generator`), a few-shot prompt for a base model, and trimming for speech.

Runtimes: `llama` (cyllama/llama.cpp on the Gemma 3 270M GGUF shipped as a package, the default)
and `transformers` (any local causal-LM folder). Heavy libraries load only when a generator does.
"""

from assistant.generation.llm import (
    Generator,
    GeneratorSpec,
    LlamaGenerator,
    TransformersGenerator,
    cap_for_speech,
    ensure_gemma_gguf,
    load_generator,
)
from assistant.generation.prompt import STOP, build_prompt

__all__ = [
    "STOP",
    "Generator",
    "GeneratorSpec",
    "LlamaGenerator",
    "TransformersGenerator",
    "build_prompt",
    "cap_for_speech",
    "ensure_gemma_gguf",
    "load_generator",
]
