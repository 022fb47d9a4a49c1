"""Files and images in answers (image models, file-producing bots).

A model can return files two ways: as attachments (the protocol's ``file`` event) or as
Markdown image links in its text. :func:`collect_files` lists both on ``Reply.attachments``
as :class:`ReplyFile` objects (it runs on every finished Reply). :func:`present` then shows
them under the answer in a notebook: images are fetched and embedded as image outputs (so a
saved notebook keeps them after the URL expires), other files as links. Images given as
``data:`` URIs in the text are already self-contained and render where they stand.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from poe_magic.base import errors as E
from poe_magic.base.files import safe_name
from poe_magic.core.answer_display import AnswerNotebookSink, AnswerTerminalSink
from poe_magic.core.reply import Reply
from poe_magic.core.safe_markdown import safe_markdown

#: images larger than this are linked, not embedded (keeps notebooks a sane size)
MAX_FETCH_BYTES = 20 * 1024 * 1024
FETCH_TIMEOUT = 30.0

_IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(\s*<?((?:https?://|data:)[^\s)>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


@dataclass(eq=False)
class ReplyFile:
    """One file or image a model returned. ``data`` fetches the bytes (once)."""

    url: str
    content_type: str = ""
    name: str = ""
    source: str = "attachment"  # "attachment" (file event) or "link" (Markdown image)
    alt: str = ""
    _data: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_attachment(cls, attachment: Any) -> ReplyFile:
        return cls(url=attachment.url, content_type=attachment.content_type or "", name=attachment.name or "")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplyFile:
        text = {k: str(data.get(k) or "") for k in ("url", "content_type", "name", "source", "alt")}
        return cls(url=text["url"], content_type=text["content_type"], name=text["name"],
                   source=text["source"] or "attachment", alt=text["alt"])

    def __post_init__(self) -> None:
        if self.url.startswith("data:"):
            self.content_type = self.content_type or self.url[5:].split(";", 1)[0].split(",", 1)[0]
        if not self.name:
            self.name = "inline-image" if self.url.startswith("data:") else (
                unquote(Path(urlparse(self.url).path).name) or "file")
        if not self.content_type:
            self.content_type = mimetypes.guess_type(safe_name(self.name, fallback="file"))[0] or ""
        # a server's name is untrusted: only a safe base name is kept (no ../, no drive, no dotfile)
        extension = mimetypes.guess_extension(self.content_type.split(";")[0].strip()) or ""
        self.name = safe_name(self.name, fallback=f"file-1{extension}")

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    @property
    def data(self) -> bytes:
        """The file's bytes (fetched on first use, without the API key)."""
        if self._data is None:
            self._data = self._fetch()
        return self._data

    def _fetch(self) -> bytes:
        if self.url.startswith("data:"):
            header, _, payload = self.url.partition(",")
            return base64.b64decode(payload) if header.endswith(";base64") else unquote(payload).encode()
        from poe_magic.wire.http import get_bytes  # late: httpx stays off the %load_ext path

        try:
            data, content_type = get_bytes(self.url, what=self.name, max_bytes=MAX_FETCH_BYTES, timeout=FETCH_TIMEOUT)
        except E.RequestTooLargeError as error:
            raise error.amend("not embedded") from None
        self.content_type = content_type or self.content_type
        return data

    def save(self, path: str | Path) -> Path:
        """Write the bytes to ``path`` (a folder keeps the file's own name, made safe: a name
        from a server never writes outside the folder given)."""
        target = Path(path)
        if target.is_dir():
            target = target / safe_name(self.name, fallback="file-1")
            if target.resolve().parent != Path(path).resolve():  # e.g. a symlink planted in the folder
                raise E.PoeUsageError(f"refusing to save {self.name!r} outside {path}")
        target.write_bytes(self.data)
        return target

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return image_bundle(self) if self.is_image else {"text/plain": repr(self)}

    def __repr__(self) -> str:
        where = "inline data" if self.url.startswith("data:") else self.url
        return f"<ReplyFile {self.name} {self.content_type or '?'} {where}>"


def image_bundle(file: ReplyFile) -> dict[str, Any]:
    """A display bundle embedding the image's bytes."""
    data = file.data
    payload: Any = data.decode("utf-8", "replace") if file.content_type == "image/svg+xml" else base64.b64encode(data).decode()
    return {file.content_type: payload, "text/plain": f"<image {file.name}>"}


def collect_files(reply: Reply) -> None:
    """Turn the reply's attachments and Markdown image links into :class:`ReplyFile` objects."""
    files: list[ReplyFile] = []
    seen: set[str] = set()
    for item in reply.attachments:
        file = item if isinstance(item, ReplyFile) else ReplyFile.from_attachment(item)
        if file.url not in seen:
            seen.add(file.url)
            files.append(file)
    for alt, url in _IMAGE_LINK.findall(reply.text):
        if url not in seen:
            seen.add(url)
            files.append(ReplyFile(url=url, source="link", alt=alt))
    reply.attachments = files



def present(reply: Reply, sink: Any) -> None:
    """Show the reply's files under its answer: images embedded, other files as links."""
    collect_files(reply)  # cached replies do not pass through the finishers
    files = [f for f in reply.attachments if not (f.source == "link" and f.url.startswith("data:"))]
    if not files:
        return

    if isinstance(sink, AnswerTerminalSink):
        for f in files:
            sink.out.write(f"[{'image' if f.is_image else 'file'}] {f.name} ({f.content_type or '?'}): {f.url}\n")
        return
    if not isinstance(sink, AnswerNotebookSink):
        return
    from IPython.display import display

    embedded: set[str] = set()
    linked = {url for _, url in _IMAGE_LINK.findall(reply.text)}  # an attachment the text also shows inline
    for f in files:
        try:
            bundle = image_bundle(f) if f.is_image else None
        except E.PoeMagicError as exc:
            bundle = {"text/markdown": safe_markdown(f"⚠ {exc}: [{f.name}]({f.url})"), "text/plain": str(exc)}
        except KeyboardInterrupt:  # stop fetching, keep the answer (it is recorded after this)
            display({"text/markdown": "⏹ stopped embedding images; they stay listed on `_poe.attachments`",
                     "text/plain": "stopped embedding images"}, raw=True)
            break
        if bundle is None:
            bundle = {"text/markdown": safe_markdown(f"📎 [{f.name}]({f.url}) ({f.content_type or 'file'})"),
                      "text/plain": f.url}
        elif f.is_image and (f.source == "link" or f.url in linked):
            embedded.add(f.url)  # shown once: the inline link is replaced by a pointer to this image
        display(bundle, raw=True)
    if embedded:  # the links now point below, where the bytes are kept
        sink.redraw(_IMAGE_LINK.sub(lambda m: f"*(image below: {m.group(1) or 'image'})*"
                                    if m.group(2) in embedded else m.group(0), reply.text), reply.footer(brief=True))
