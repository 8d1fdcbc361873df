"""Layer 5, pipelines: what a user runs. Generate a dataset, train, evaluate, predict (with
refinement and the HTML report), quickstart, the dev set. Imports every layer below; the CLI
(:mod:`a2d.cli`) is the only layer above."""
