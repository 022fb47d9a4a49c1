"""The ground floor: settings, the error tree, key masking, text and file helpers. Imports nothing else of poe_magic."""
