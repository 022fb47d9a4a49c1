"""Bots for files in both directions, so attachments are proven end to end offline.

- ``ImageBot`` answers with a PNG (a colour gradient picked by the prompt), hosted by this
  server like an upload: as a protocol ``file`` event (``mode=file``), as a Markdown image
  link (``mode=link``) or both (``mode=both``, the default); ``images=N`` sends N of them.
- ``FileReaderBot`` downloads every attachment of the last message from its URL, as a real
  bot does, and reports name, type, size and SHA-256 (plus the start of text files) in a
  ```json block: tests compare that with the local file to prove the upload reached the bot.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import AsyncIterable
from typing import Any

import fastapi_poe as fp
import httpx

from poe_magic.server.bots.base import LocalBot, knobs
from poe_magic.server.state import ServerState
from poe_magic.server.uploads import store_file


def png_bytes(width: int, height: int, seed: int) -> bytes:
    """A small RGB gradient PNG, built with zlib alone (no imaging library on the server)."""
    r0, g0, b0 = seed & 0xFF, (seed >> 8) & 0xFF, (seed >> 16) & 0xFF
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in ((r0 + 3 * x) % 256, (g0 + 3 * y) % 256, b0))
        for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class ImageBot(LocalBot):
    """Returns PNG images as file events and/or Markdown image links."""

    description = "Answers with a PNG image (knobs, as --param K=V or K=V in the prompt: mode=file|link|both, images=N)."
    output_modalities = ("text", "image")
    cost_points = 40

    async def get_response_with_context(self, request: fp.QueryRequest,
                                        context: fp.RequestContext) -> AsyncIterable[Any]:
        base_url = str(context.http_request.base_url)  # image URLs point back at this server
        async for part in self.images(request, base_url):
            yield part
        self.state.charge(self.name, self.cost_points)

    async def images(self, request: fp.QueryRequest, base_url: str) -> AsyncIterable[fp.PartialResponse]:
        k = knobs(request)
        mode, count = str(k.get("mode", "both")), int(k.get("images", 1))
        prompt = request.query[-1].content if request.query else ""
        seed = int(hashlib.sha256(prompt.encode()).hexdigest(), 16)
        yield fp.PartialResponse(text=f"Here is {'an image' if count == 1 else f'{count} images'}:\n\n")
        for i in range(count):
            name = f"image{i + 1}.png"
            url, mime = store_file(self.state, base_url, png_bytes(48, 32, seed + i), name, "image/png")
            if mode in ("file", "both"):
                yield fp.PartialResponse(text="", attachment=fp.Attachment(url=url, content_type=mime, name=name))
            if mode in ("link", "both"):
                yield fp.PartialResponse(text=f"![picture {i + 1}]({url})\n\n")


class FileReaderBot(LocalBot):
    """Downloads the attachments it receives and reports what they contain."""

    description = "Reads the files attached to the message and reports name, type, size and SHA-256."
    input_modalities = ("text", "image", "file")

    async def answer(self, request: fp.QueryRequest) -> AsyncIterable[fp.PartialResponse]:
        last = request.query[-1] if request.query else None
        found = []
        async with httpx.AsyncClient(timeout=10) as client:
            for attachment in (last.attachments if last is not None else []):
                response = await client.get(attachment.url)
                data = response.content if response.status_code == 200 else b""
                found.append({"name": attachment.name, "content_type": attachment.content_type,
                              "status": response.status_code, "bytes": len(data),
                              "sha256": hashlib.sha256(data).hexdigest(),
                              "text": data[:200].decode("utf-8", "replace")
                              if attachment.content_type.startswith("text/") else None})
        lines = [f"### {self.name} read {len(found)} file(s)", ""]
        lines += [f"- **{f['name']}** ({f['content_type']}, {f['bytes']:,} bytes)" for f in found]
        lines += ["", "```json", json.dumps({"files": found}, sort_keys=True), "```"]
        yield fp.PartialResponse(text="\n".join(lines) + "\n")


def make_media_bots(state: ServerState) -> list[LocalBot]:
    return [ImageBot("ImageBot", state), FileReaderBot("FileReaderBot", state)]
