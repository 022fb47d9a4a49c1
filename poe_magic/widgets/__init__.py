"""ipywidgets: the model picker and the chat panel. May import: comparison and everything below it."""
