"""Layer 1, contracts: what every other part agrees on. Errors and exit codes, parameter kinds and
specs, notes, the synth backend and model contracts, the plugin hooks, registries and name lookup
(:mod:`a2d.contracts.plugins`). Imports no other a2d layer."""
