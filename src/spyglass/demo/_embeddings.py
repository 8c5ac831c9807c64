"""`POST /v1/embeddings`: deterministic unit vectors derived from a hash of each input.

Vectors are float32 values (so the `float` and `base64` encodings decode to exactly the same numbers),
1536-dimensional by default, 3072 for `*-large` models, or `dimensions` when given. `base64` is the
little-endian float32 bytes, base64-encoded, as the real API sends it.
"""

from __future__ import annotations

import base64
import math
import random
import struct
from functools import lru_cache
from typing import Any

from spyglass.demo._util import count_tokens, digest

Body = dict[str, Any]

DEFAULT_DIMENSIONS = 1536
LARGE_DIMENSIONS = 3072


def embeddings(body: Body) -> Body:
    model = str(body.get("model", ""))
    dimensions = _dimensions(body)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(_inputs(body)):
        vector = _vector(model, repr(item), dimensions)
        embedding: Any = _encode(vector) if as_base64 else list(vector)
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(_input_tokens(item) for item in _inputs(body))
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _inputs(body: Body) -> list[Any]:
    """Each input: a string or a token array."""
    value = body.get("input", "")
    if isinstance(value, list) and value and all(isinstance(t, int) for t in value):
        return [value]
    if isinstance(value, list):
        return value
    return [value]


def _input_tokens(item: Any) -> int:
    return len(item) if isinstance(item, list) else count_tokens(str(item))


def _dimensions(body: Body) -> int:
    requested = body.get("dimensions")
    if isinstance(requested, int) and requested > 0:
        return requested
    return LARGE_DIMENSIONS if "large" in str(body.get("model", "")) else DEFAULT_DIMENSIONS


@lru_cache(maxsize=256)
def _vector(model: str, item: str, dimensions: int) -> tuple[float, ...]:
    rng = random.Random(digest("embedding", model, item))
    raw = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    packed = struct.pack(f"<{dimensions}f", *(v / norm for v in raw))
    return struct.unpack(f"<{dimensions}f", packed)


def _encode(vector: tuple[float, ...]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
