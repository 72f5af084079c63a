#!/usr/bin/env python3
"""PyTorch counterpart of benches/matmul_cpu.rs: the same products (rows x in x out), median of
30 after a warm-up, on 1 and 2 threads.

    python3 benches/matmul_torch.py

Needs torch (version as in tests/fixtures/make_fixtures.py).
"""
import statistics
import time

import torch

SHAPES = [(50, 768, 768), (50, 768, 3072), (50, 3072, 768), (257, 1024, 1024), (257, 1024, 4096), (257, 4096, 1024)]
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
print(f"machine: {model}; torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
for threads in (1, 2):
    torch.set_num_threads(threads)
    for m, k, n in SHAPES:
        x, w = torch.randn(m, k), torch.randn(k, n)
        x @ w
        times = []
        for _ in range(30):
            t = time.perf_counter()
            x @ w
            times.append(time.perf_counter() - t)
        s = statistics.median(times)
        print(f"{threads} threads | {m} x {k} x {n} | {s * 1e3:.3f} ms | {2 * m * k * n / s / 1e9:.0f} GFLOP/s")
