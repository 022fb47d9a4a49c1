"""The model catalogue (/v1/models), aliases, the default model and comparison set, name resolution, the models table. May import: core, wire, base."""
