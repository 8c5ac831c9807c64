"""The cost of a call in USD, from the maintained `genai-prices` tables (offline; its updater stays off).

Looking a model up in the tables takes hundreds of microseconds and `calc_price` itself over a hundred,
too slow for the caller's thread, so a model's flat prices are looked up once and cached, and the
arithmetic is done here. Tiered or otherwise unusual prices fall back to the library.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# genai-prices names the providers it prices; ours map onto theirs where they differ.
_PROVIDER_IDS = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "openrouter": "openrouter",
    "groq": "groq",
    "deepseek": "deepseek",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "gcp.gemini": "google",
    "anthropic": "anthropic",
    "together": "together",
    "fireworks": "fireworks",
    "perplexity": "perplexity",
    "cohere": "cohere",
}


@dataclass(frozen=True)
class _FlatPrice:
    input_mtok: float
    output_mtok: float
    cache_read_mtok: float | None

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int) -> float:
        cached = min(cached_tokens, input_tokens) if self.cache_read_mtok is not None else 0
        total = (input_tokens - cached) * self.input_mtok + output_tokens * self.output_mtok
        if cached:
            total += cached * (self.cache_read_mtok or 0.0)
        return total / 1_000_000


_FLAT = Decimal | int | float  # a price per million tokens that does not depend on the volume


@dataclass(frozen=True)
class Cost:
    usd: float | None
    reason: str | None = None  # why usd is None


def load_prices() -> None:
    """Import the price tables now, on the thread instrumenting the clients.

    Costs are computed on spyglass's pipeline thread, and `genai_prices` imports `httpx2` as it loads. An
    import there would race with the program's own calls: openai 2.x looks `httpx2` up in `sys.modules` on
    every request and, finding it half-imported by our thread, raised `AttributeError` into the caller's
    code (seen in CI with openai 2.54). Loaded here, before any traced call, nothing is left to import.
    """
    with contextlib.suppress(Exception):  # no tables, or a model they lack: costs read "unknown"
        _lookup("openai", "gpt-4o")  # imports the library and loads its tables (their modules too)


@functools.lru_cache(maxsize=512)
def _lookup(provider: str, model: str) -> _FlatPrice | Any | None:
    """The model's price: a `_FlatPrice`, the library's ModelPrice when tiered, or None when unknown."""
    try:
        from genai_prices import Usage, calc_price
    except ImportError:
        return None
    # An unknown host (a proxy, a local mock) answering to a known OpenAI model name is priced as OpenAI
    # would be; a model the tables do not know (a local llama) stays unknown.
    provider_id = _PROVIDER_IDS.get(provider, "openai")
    try:
        found = calc_price(Usage(input_tokens=0, output_tokens=0), model_ref=model, provider_id=provider_id)
    except LookupError:
        try:
            found = calc_price(Usage(input_tokens=0, output_tokens=0), model_ref=model)
        except LookupError:
            return None
    price = found.model_price
    input_mtok, output_mtok, cache_read_mtok = price.input_mtok, price.output_mtok, price.cache_read_mtok
    if (
        isinstance(input_mtok, _FLAT | None)
        and isinstance(output_mtok, _FLAT | None)
        and isinstance(cache_read_mtok, _FLAT | None)
    ):
        return _FlatPrice(
            float(input_mtok or 0),
            float(output_mtok or 0),
            None if cache_read_mtok is None else float(cache_read_mtok),
        )
    return price  # tiered: priced by the library per call


def cost_of(
    provider: str,
    model: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
    cached_tokens: int | None,
) -> Cost:
    """The USD cost of one call, or why it is unknown."""
    if not model:
        return Cost(None, "no model")
    if input_tokens is None and output_tokens is None:
        return Cost(None, "no token usage")
    price = _lookup(provider, model)
    if price is None:
        return Cost(None, f"no price for model {model!r}")
    if isinstance(price, _FlatPrice):
        return Cost(price.cost(input_tokens or 0, output_tokens or 0, cached_tokens or 0))
    from genai_prices import Usage

    usage = Usage(
        input_tokens=input_tokens or 0,
        output_tokens=output_tokens or 0,
        cache_read_tokens=cached_tokens or None,
    )
    return Cost(float(price.calc_price(usage)["total_price"]))
