"""Model runtime: the Engine protocol, llama.cpp, remote and fake engines."""

from .base import CancelToken, Engine, EngineError, GenerationRequest, GenerationStats, ModelInfo

__all__ = ["CancelToken", "Engine", "EngineError", "GenerationRequest", "GenerationStats", "ModelInfo"]
