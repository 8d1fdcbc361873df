"""Example third-party a2d plugin: a small model registered as ``toymlp``."""

__version__ = "0.1.0"
