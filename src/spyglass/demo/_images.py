"""`POST /v1/images/generations` and `POST /v1/images/edits`: small real PNGs, by URL or base64.

Each image is a 16x16 PNG of one colour derived from the prompt. `dall-e-*` models answer with a URL
(served by `GET /v1/demo-images/{name}.png` on this server) unless `response_format` is `b64_json`;
`dall-e-3` adds a `revised_prompt`. `gpt-image-*` models always answer base64 with `usage`, like the real
API.
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

from spyglass.demo._util import CREATED, count_tokens, digest, make_id

Body = dict[str, Any]

SIDE = 16
_OUTPUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160}
_INPUT_IMAGE_TOKENS = 194


def image_response(body: Body, *, images_url: str, input_images: int = 0) -> Body:
    """The `ImagesResponse` for a generation (`input_images == 0`) or an edit."""
    model = str(body.get("model") or "dall-e-2")
    prompt = str(body.get("prompt", ""))
    n = max(1, int(body.get("n") or 1))
    names = [make_id("img-", "image", model, prompt, input_images, i, length=24) for i in range(n)]
    if model.startswith("gpt-image"):
        return _gpt_image_response(body, prompt, names, input_images)
    as_base64 = body.get("response_format") == "b64_json"
    data = []
    for name in names:
        item: Body = {"b64_json": png_base64(name)} if as_base64 else {"url": f"{images_url}/{name}.png"}
        if model == "dall-e-3" and not input_images:
            item["revised_prompt"] = f"A simple, single-colour square illustrating: {prompt}"
        data.append(item)
    return {"created": CREATED, "data": data}


def _gpt_image_response(body: Body, prompt: str, names: list[str], input_images: int) -> Body:
    quality = str(body.get("quality") or "auto")
    output_per_image = _OUTPUT_TOKENS.get(quality, _OUTPUT_TOKENS["medium"])
    text_tokens = count_tokens(prompt)
    image_tokens = input_images * _INPUT_IMAGE_TOKENS
    output_tokens = output_per_image * len(names)
    return {
        "created": CREATED,
        "background": "opaque",
        "data": [{"b64_json": png_base64(name)} for name in names],
        "output_format": "png",
        "quality": "medium" if quality == "auto" else quality,
        "size": "1024x1024" if body.get("size") in (None, "auto") else body["size"],
        "usage": {
            "input_tokens": text_tokens + image_tokens,
            "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": text_tokens},
            "output_tokens": output_tokens,
            "total_tokens": text_tokens + image_tokens + output_tokens,
        },
    }


def png_base64(name: str) -> str:
    return base64.b64encode(png_bytes(name)).decode()


def png_bytes(name: str) -> bytes:
    """A 16x16 single-colour RGB PNG whose colour comes from `name`."""
    red, green, blue = digest("png", name)[:3]
    row = b"\x00" + bytes((red, green, blue)) * SIDE  # filter byte 0, then the pixels
    header = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 2, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(row * SIDE, 9)),
            _png_chunk(b"IEND", b""),
        ]
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
