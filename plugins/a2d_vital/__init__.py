"""Built-in a2d plugin: vital."""
