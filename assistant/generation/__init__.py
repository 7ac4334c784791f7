"""Free-text generation for replies no template covers: a small LLM behind one streaming
interface (`Generator`), a few-shot prompt for a base model, and trimming for speech.

`SentenceStream` hands a generation out sentence by sentence as the model writes it, so that the
first sentence can be spoken while the rest is being written.

Runtimes: `llama` (cyllama/llama.cpp on the Gemma 3 270M GGUF shipped as a package, the default)
and `transformers` (any local causal-LM folder). Heavy libraries load only when a generator does.
"""

from assistant.generation.llama import LlamaGenerator, ensure_gemma_gguf
from assistant.generation.llm import Generator, GeneratorSpec, load_generator
from assistant.generation.prompt import STOP, build_prompt
from assistant.generation.sentences import SentenceStream
from assistant.generation.speech_cap import cap_for_speech
from assistant.generation.transformers_llm import TransformersGenerator

__all__ = [
    "STOP",
    "Generator",
    "GeneratorSpec",
    "LlamaGenerator",
    "SentenceStream",
    "TransformersGenerator",
    "build_prompt",
    "cap_for_speech",
    "ensure_gemma_gguf",
    "load_generator",
]
