"""Which provider an OpenAI client talks to, worked out from its base URL."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

_HOST_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("api.openai.com", "openai"),
    (".openai.azure.com", "azure.ai.openai"),
    (".services.ai.azure.com", "azure.ai.openai"),
    (".cognitiveservices.azure.com", "azure.ai.openai"),
    ("openrouter.ai", "openrouter"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.x.ai", "x_ai"),
    ("api.perplexity.ai", "perplexity"),
    ("api.together.xyz", "together"),
    ("api.fireworks.ai", "fireworks"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("api.anthropic.com", "anthropic"),
    ("api.cohere.ai", "cohere"),
    ("api.cohere.com", "cohere"),
)

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


@functools.lru_cache(maxsize=256)
def server_of(base_url: str) -> tuple[str, str, int]:
    """`(provider name, server address, server port)` for a client's base URL."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for suffix, provider in _HOST_SUFFIXES:
        if host == suffix.lstrip(".") or host.endswith(suffix):
            return provider, host, port
    if host in _LOCAL_HOSTS or host.endswith(".localhost"):
        # Ollama's default port says which local server it is; anything else is just "local".
        return ("ollama" if port == 11434 else "local"), host, port
    return host or "unknown", host, port
