"""The notebook's functions as tools: schemas from signatures, running calls, the tool-calling loop. May import: spending, catalog, core, wire, base."""
