"""Pure domain: standard library only, no I/O, no clock reads (``now`` is a parameter)."""
