"""Example third-party a2d plugin: a small numpy synth and its parameter spec."""

__version__ = "0.1.0"
