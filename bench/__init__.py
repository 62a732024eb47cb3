"""Benchmarks and the GPU check: commands that print figures, not tests (`make bench`,
`make gpu-check`); docs/operations/benchmark.md and docs/operations/gpu.md."""
