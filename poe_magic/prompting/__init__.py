"""Asking one model: ask/send/stream, the request pipeline, threads, {interpolation}, attachments, media, formats, the answer cache. May import: tools, spending, catalog, core, wire, base."""
