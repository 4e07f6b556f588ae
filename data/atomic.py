"""Kept so that existing imports work: the helpers live in fileio/atomic.py (the bottom floor)."""
from fileio.atomic import atomic_output, temporary_name, write_json, write_text  # noqa: F401
