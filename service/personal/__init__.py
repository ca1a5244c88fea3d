"""Personal data at the lowest layer: encryption, blind indexes, sealing and masking (no tables)."""
