"""The default engine: one process on one device (every collective is the identity)."""
from training.distribution.base import Engine


class SingleDevice(Engine):
    """One process, one device: the run as without any distribution flag."""

    name = "none"
