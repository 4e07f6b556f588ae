"""Readers and feature conversion for the fine-tuning tasks (classification, NER, reading)."""

from data.tasks.errors import DataError

__all__ = ["DataError"]
