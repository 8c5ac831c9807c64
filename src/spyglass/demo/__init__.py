"""The built-in OpenAI-compatible demo server: canned answers, no API key, no network."""

from __future__ import annotations

from spyglass.demo.server import DemoServer, RecordedRequest, create_app, run, serve

__all__ = ["DemoServer", "RecordedRequest", "create_app", "run", "serve"]
