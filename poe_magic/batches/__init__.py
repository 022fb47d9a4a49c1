"""Every row x every model: plan, concurrent runner, rate limit, budget guard, journal, progress. May import: prompting and everything below it."""
