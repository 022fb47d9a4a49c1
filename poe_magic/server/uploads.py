"""File uploads and file hosting, as the real service does them.

- ``POST /poe_api/file_upload_3RD_PARTY_POST``: what ``fastapi_poe.upload_file`` calls (the
  real one lives on www.quora.com). A multipart form with a ``file`` part; the key comes in
  ``Authorization: <key>`` without "Bearer" (PoeGate accepts that on this path only). Answers
  ``{"attachment_url": ..., "mime_type": ...}``; too large -> 413, no file -> 400, in the real
  ``{"error": {...}}`` shape.
- ``GET /poe_api/files/{id}/{name}``: the stored bytes, public like the real CDN's URLs
  (a bot, or the notebook fetching an image, needs no key).

Multipart bodies are parsed here (a few lines) rather than adding python-multipart.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from poe_magic.server.errors import error_response
from poe_magic.server.state import ServerState

UPLOAD_PATH = "/poe_api/file_upload_3RD_PARTY_POST"
FILES_PREFIX = "/poe_api/files/"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


@dataclass
class StoredFile:
    data: bytes
    content_type: str
    name: str


def store_file(state: ServerState, base_url: str, data: bytes, name: str, content_type: str = "") -> tuple[str, str]:
    """Keep ``data`` and return its public URL and MIME type."""
    content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    file_id = secrets.token_hex(8)
    with state.lock:
        state.files[file_id] = StoredFile(data, content_type, name)
    # safe="": a name with "/" stays one path segment, so the URL works
    return f"{base_url.rstrip('/')}{FILES_PREFIX}{file_id}/{quote(name, safe='')}", content_type


def stored_file(state: ServerState, url: str) -> StoredFile | None:
    """The file behind one of this server's file URLs (for bots reading attachments)."""
    match = re.search(re.escape(FILES_PREFIX) + r"([0-9a-f]+)/", url)
    return state.files.get(match.group(1)) if match else None


def parse_multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, str, bytes]]:
    """``multipart/form-data`` -> ``{field: (filename or None, part content type, bytes)}``."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/form-data") or not match:
        return {}
    fields: dict[str, tuple[str | None, str, bytes]] = {}
    for part in body.split(b"--" + match.group(1).encode())[1:-1]:
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = head.decode("utf-8", "replace")
        name = re.search(r'\bname="([^"]*)"', headers)
        filename = re.search(r'\bfilename="([^"]*)"', headers)
        kind = re.search(r"(?im)^content-type:\s*([^\r\n;]+)", headers)
        if name:
            fields[name.group(1)] = (filename.group(1) if filename else None,
                                     kind.group(1).strip() if kind else "", data.removesuffix(b"\r\n"))
    return fields


def add_routes(app: FastAPI, state: ServerState) -> None:
    @app.post(UPLOAD_PATH)
    async def upload(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_UPLOAD_BYTES:
            return error_response(413, f"file too large: the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
        form = parse_multipart(body, request.headers.get("content-type", ""))
        if "download_url" in form:
            return error_response(400, "this local server does not download files from URLs; upload the bytes")
        if "file" not in form or form["file"][0] is None:
            return error_response(400, "no file in the upload (expected a multipart 'file' part)")
        filename, part_type, data = form["file"]
        part_type = "" if part_type == "application/octet-stream" else part_type
        url, mime = store_file(state, str(request.base_url), data, filename or "file", part_type)
        return JSONResponse({"attachment_url": url, "mime_type": mime})

    @app.get(FILES_PREFIX + "{file_id}/{name:path}")  # a name may hold "/" (decoded from %2F)
    async def download(file_id: str, name: str) -> Response:
        found = state.files.get(file_id)
        if found is None:
            return error_response(404, "file not found")
        return Response(found.data, media_type=found.content_type,
                        headers={"Content-Disposition": f"inline; filename*=UTF-8''{quote(found.name, safe='')}"})
