"""Built-in a2d plugin: surge."""
