"""Template filters: durations, token counts, costs and rates as the pages show them (static/format.js agrees)."""

from __future__ import annotations

from jinja2 import Environment


def duration(ns: int | None) -> str:
    if ns is None:
        return "–"
    if ns < 1_000_000:
        return f"{ns / 1000:.0f}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.0f}ms"
    if ns < 60_000_000_000:
        return f"{ns / 1e9:.2f}s"
    minutes, seconds = divmod(ns / 1e9, 60)
    return f"{minutes:.0f}m{seconds:02.0f}s"


def tokens(count: int | None) -> str:
    return "–" if count is None else f"{count:,}"


def cost(usd: float | None) -> str:
    if usd is None:
        return "unknown"
    if usd == 0:
        return "$0"
    if usd < 0.000001:
        return "<$0.000001"
    if usd < 0.01:
        return f"${usd:.6f}".rstrip("0")
    return f"${usd:,.4f}"


def percent(rate: float) -> str:
    return f"{rate * 100:.1f}%" if rate else "0%"


def register(env: Environment) -> None:
    env.filters.update(duration=duration, tokens=tokens, cost=cost, percent=percent)
