#!/usr/bin/env python3
"""PyTorch reference for benches/web/bench.mjs: the same captioner folder, the same image, the same
work per caption (decode the image file, ViTImageProcessor, `generate` greedy with `tokens` new
tokens and the stop token held off), on the CPU with torch's default threads. Prints one JSON line.

    python benches/web/torch_caption.py /tmp/vit-gpt2-random IMAGE TOKENS RUNS
"""
import json
import statistics
import sys
import time

import torch
from PIL import Image
from transformers import ViTImageProcessor, VisionEncoderDecoderModel


def main(folder, image, tokens, runs):
    model = VisionEncoderDecoderModel.from_pretrained(folder).eval()
    processor = ViTImageProcessor.from_pretrained(folder)

    def caption():
        pv = processor(images=Image.open(image).convert("RGB"), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            return model.generate(pixel_values=pv, max_new_tokens=tokens, min_new_tokens=tokens, num_beams=1,
                                  do_sample=False)[0].tolist()

    caption()  # warm-up
    times, ids = [], None
    for _ in range(runs):
        t = time.perf_counter()
        ids = caption()
        times.append(time.perf_counter() - t)
    print(json.dumps({"caption_s": statistics.median(times), "ids": ids, "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
