"""The Reply, live streams folded into it, display sinks (notebook / terminal / silent) and the session. May import: wire, base."""
