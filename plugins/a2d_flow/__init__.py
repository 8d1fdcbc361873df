"""Built-in a2d plugin: flow."""
