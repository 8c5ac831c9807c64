"""`GET /v1/models` and `GET /v1/models/{id}`: a short, fixed model list."""

from __future__ import annotations

from typing import Any

from spyglass.demo._util import CREATED

MODEL_IDS = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1-nano",
    "gpt-5-nano",
    "o4-mini",
    "gpt-3.5-turbo-instruct",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "dall-e-2",
    "dall-e-3",
    "gpt-image-1",
)


def model_object(model_id: str) -> dict[str, Any]:
    owner = "system" if model_id in MODEL_IDS else "spyglass-demo"
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": owner}


def model_list() -> dict[str, Any]:
    return {"object": "list", "data": [model_object(model_id) for model_id in MODEL_IDS]}
