"""Remote engines: llama.cpp server, vLLM/SGLang (OpenAI-compatible), Ollama."""

from ..base import ChatResult
from .engine import RemoteEngine, RemoteOptions, probe_endpoint, resolve_api_key
from .transport import Endpoint, HttpOptions, RemoteError

__all__ = ["ChatResult", "Endpoint", "HttpOptions", "RemoteEngine", "RemoteError", "RemoteOptions",
           "probe_endpoint", "resolve_api_key"]
