"""virtcheck: Popek & Goldberg's virtualizability theory, executable."""

__version__ = "0.1.0"
