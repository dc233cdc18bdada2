"""``bankbot`` command line: one module per command (spaCy-CLI style)."""
