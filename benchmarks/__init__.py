"""poe_magic benchmarks: ``python -m benchmarks`` (see ``__main__.py``)."""
