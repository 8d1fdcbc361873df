"""Built-in a2d plugin: feedforward."""
