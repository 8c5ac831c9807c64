"""Receiving OpenTelemetry spans from other programs over OTLP/HTTP, into a spyglass store.

`receiver_routes()` gives the Starlette routes (`POST /v1/traces`) the viewer mounts; `receiver_app()` is
the headless app `spyglass serve` runs; `normalize()` gives other instrumentations' GenAI spans (OpenLLMetry,
OpenInference, the semantic-convention events) the attributes spyglass reads.

Example:
    ```python
    import uvicorn
    from spyglass.receiver import receiver_app

    uvicorn.run(receiver_app(".spyglass/spans.sqlite"), host="127.0.0.1", port=4318)
    ```
"""

from __future__ import annotations

from spyglass.receiver._decode import PayloadError
from spyglass.receiver.app import Receiver, receiver_app, receiver_routes
from spyglass.receiver.normalize import normalize

__all__ = ["PayloadError", "Receiver", "normalize", "receiver_app", "receiver_routes"]
