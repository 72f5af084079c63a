#!/usr/bin/env python3
"""PyTorch counterpart of benches/embed_cpu.rs: image-embedding time per image for a random-weight
CLIP vision tower + projection, eager attention, batch 1, median of 5 after a warm-up.

    python3 benches/embed_torch.py [--threads 2] [openai/clip-vit-large-patch14 ...]

Needs torch and transformers (versions as in tests/fixtures/make_fixtures.py); downloads nothing.
"""
import argparse
import statistics
import time

import torch
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

PRESETS = {
    "openai/clip-vit-base-patch32": dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                                         num_hidden_layers=12, image_size=224, patch_size=32, projection_dim=512),
    "openai/clip-vit-large-patch14": dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
                                          num_hidden_layers=24, image_size=224, patch_size=14, projection_dim=768),
    "openai/clip-vit-large-patch14-336": dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
                                              num_hidden_layers=24, image_size=336, patch_size=14, projection_dim=768),
}

ap = argparse.ArgumentParser()
ap.add_argument("models", nargs="*", default=["openai/clip-vit-base-patch32", "openai/clip-vit-large-patch14"])
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--runs", type=int, default=5)
a = ap.parse_args()
torch.set_num_threads(a.threads)
model_name = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
print(f"machine: {model_name}; torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
for name in a.models:
    cfg = CLIPVisionConfig(**PRESETS[name])
    cfg._attn_implementation = "eager"
    model = CLIPVisionModelWithProjection(cfg).eval()
    x = torch.randn(1, 3, cfg.image_size, cfg.image_size)
    times = []
    with torch.inference_mode():
        for i in range(a.runs + 1):
            t = time.perf_counter()
            e = model(pixel_values=x).image_embeds
            e = e / e.norm(dim=-1, keepdim=True)
            if i:
                times.append(time.perf_counter() - t)
    print(f"{name}: {statistics.median(times):.3f} s per image (median of {a.runs}, batch 1, "
          f"{cfg.image_size}px, torch {torch.__version__}, {a.threads} threads)")
