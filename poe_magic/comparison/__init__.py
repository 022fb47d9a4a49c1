"""Several models on one prompt at once: the run, the Comparison result and the side-by-side grid. May import: batches and everything below it."""
