"""Layer 4, runtime plumbing: processes that render. Generation workers and their executors
(local processes or Ray), the synth worker pool, orphan watching. Imports contracts, kernels and
storage."""
