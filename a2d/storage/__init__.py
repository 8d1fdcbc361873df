"""Layer 3, storage: what a2d writes and reads back. Datasets (HDF5 shards and their manifest),
checkpoints, YAML configs, standard MIDI files, and the atomic-write helpers every writer uses.
Imports only contracts and kernels."""
