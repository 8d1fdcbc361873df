"""Layer 2, signal kernels: numbers in, numbers out. Mel features, loudness, DTW, ODE sampling,
audio metrics, sound loading and note analysis; the compiled ``a2d._core`` behind them
(:mod:`a2d.kernels._native`). Imports only the contracts."""
