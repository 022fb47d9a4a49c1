"""All network code: the private event-loop thread, streaming (fastapi_poe) and plain HTTP, one error table, one retry policy, the rate limiter. May import: base."""
