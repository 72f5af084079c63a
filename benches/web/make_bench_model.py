#!/usr/bin/env python3
"""The captioning benchmark's model: a full-size ViT-base/16 + GPT-2 (124M) captioner with random
weights, in HF `VisionEncoderDecoderModel` layout (as nlpconnect/vit-gpt2-image-captioning), and
its ONNX export for transformers.js (as Xenova/vit-gpt2-image-captioning: onnx/encoder_model.onnx,
onnx/decoder_model_merged.onnx, made by optimum's `image-to-text-with-past` exporter, and their
`_quantized` int8 versions, transformers.js's default `q8` on WebAssembly).

Not a test fixture (about 1 GB of safetensors plus 1 GB of ONNX): written to a scratch folder.
Pinned environment (optimum-onnx 0.1.0 needs transformers 4.x):

    python3 -m venv /tmp/bv && /tmp/bv/bin/pip install torch==2.15.0 transformers==4.57.6 \
        optimum-onnx==0.1.0 optimum==2.1.0 onnx==1.23.2 onnxruntime==1.31.1 onnxscript==0.7.2 pillow
    /tmp/bv/bin/python benches/web/make_bench_model.py /tmp/vit-gpt2-random

Then `node benches/web/bench.mjs /tmp/vit-gpt2-random` (see benches/web/README.md).
"""
import json
import shutil
import sys
from pathlib import Path

import torch
from transformers import (GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast, ViTConfig, ViTImageProcessor, ViTModel,
                          VisionEncoderDecoderModel)

ROOT = Path(__file__).resolve().parents[2]
VOCAB = ROOT.parent / "shared" / "vocab" / "gpt2"
EOS = 50256
NEW_TOKENS = 20  # greedy steps per caption (random weights: EOS is as likely as any other token)


def main(out: Path):
    torch.manual_seed(0)
    vit = ViTModel(ViTConfig(), add_pooling_layer=True)  # ViT-base/16 at 224: 12 x 768, 197 tokens
    gpt2 = GPT2LMHeadModel(GPT2Config(add_cross_attention=True))  # GPT-2 small: 12 x 768, 50257 tokens
    model = VisionEncoderDecoderModel(encoder=vit, decoder=gpt2).eval()
    for cfg in (model.config, model.generation_config):
        cfg.decoder_start_token_id = EOS
        cfg.pad_token_id = EOS
        cfg.eos_token_id = EOS
    model.generation_config.max_length = NEW_TOKENS + 1  # counts the start token
    model.generation_config.num_beams = 1

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model.save_pretrained(out, safe_serialization=True)
    ViTImageProcessor(size={"height": 224, "width": 224}, resample=2, image_mean=[0.5] * 3,
                      image_std=[0.5] * 3).save_pretrained(out)
    tok = GPT2TokenizerFast.from_pretrained(str(VOCAB))
    tok.save_pretrained(out)

    # ONNX for transformers.js: the encoder, and the decoder with and without past merged into one
    # graph (what transformers.js loads for VisionEncoderDecoderModel).
    from optimum.exporters.onnx import main_export
    onnx_dir = out / "onnx-export"
    main_export(str(out), output=str(onnx_dir), task="image-to-text-with-past", opset=17, device="cpu",
                do_validation=False)
    (out / "onnx").mkdir()
    for name in ("encoder_model.onnx", "decoder_model_merged.onnx"):
        shutil.move(str(onnx_dir / name), str(out / "onnx" / name))
        data = onnx_dir / f"{name}_data"
        if data.exists():
            shutil.move(str(data), str(out / "onnx" / data.name))
    shutil.rmtree(onnx_dir)
    # transformers.js's default on its WebAssembly backend, `q8`: dynamic int8 weights, as the
    # Xenova conversions ship them (*_quantized.onnx).
    from onnxruntime.quantization import QuantType, quantize_dynamic
    for name in ("encoder_model", "decoder_model_merged"):
        # EnableSubgraph: the merged decoder's two branches (with and without past) are subgraphs.
        quantize_dynamic(str(out / "onnx" / f"{name}.onnx"), str(out / "onnx" / f"{name}_quantized.onnx"),
                         weight_type=QuantType.QUInt8, extra_options={"EnableSubgraph": True})

    # A reference caption from HF for the same image the benchmark uses, so each runtime's ids can
    # be checked against it (a benchmark of a wrong model would measure nothing).
    from PIL import Image
    img = Image.open(ROOT / "tests" / "fixtures" / "images" / "portrait.png").convert("RGB")
    pv = ViTImageProcessor.from_pretrained(out)(images=img, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        ids = model.generate(pixel_values=pv, max_length=NEW_TOKENS + 1, num_beams=1, do_sample=False)
    (out / "reference.json").write_text(json.dumps({"image": "tests/fixtures/images/portrait.png",
                                                     "greedy_ids": ids[0].tolist()}))
    print("wrote", out, "greedy ids", ids[0].tolist())


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/vit-gpt2-random"))
