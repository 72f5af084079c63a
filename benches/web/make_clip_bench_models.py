#!/usr/bin/env python3
"""The embedding benchmark's models: CLIP ViT-B/32 and ViT-L/14 vision towers (224 px) with random
weights, each in HF `CLIPModel` layout (config.json, model.safetensors, preprocessor_config.json;
the text tower cut to one narrow layer: the benchmark embeds images only) for glimpse, and the
vision tower exported to ONNX for transformers.js as the Xenova conversions lay it out:
onnx/vision_model.onnx (fp32) and onnx/vision_model_quantized.onnx (dynamic int8 weights, what
transformers.js loads for its default `q8`). Also a reference embedding from HF for one image.

Environment: the one of make_bench_model.py (benches/web/README.md).

    /tmp/bv/bin/python benches/web/make_clip_bench_models.py /tmp/clip-bench   # ~2.5 GB
"""
import json
import sys
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPVisionModelWithProjection

ROOT = Path(__file__).resolve().parents[2]
TOWERS = {
    # name: (hidden, layers, heads, patch, projection)
    "clip-vit-b32-random": (768, 12, 12, 32, 512),
    "clip-vit-l14-random": (1024, 24, 16, 14, 768),
}


class Vision(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, pixel_values):
        out = self.m(pixel_values=pixel_values)
        return out.image_embeds, out.last_hidden_state


def main(root: Path):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from PIL import Image

    img = Image.open(ROOT / "tests" / "fixtures" / "images" / "landscape.jpg").convert("RGB")
    for name, (hidden, layers, heads, patch, proj) in TOWERS.items():
        out = root / name
        (out / "onnx").mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        cfg = CLIPConfig(
            projection_dim=proj,
            vision_config=dict(hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                               num_attention_heads=heads, patch_size=patch, image_size=224),
            text_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2,
                             projection_dim=proj),
        )
        model = CLIPModel(cfg).eval()
        model.save_pretrained(out, safe_serialization=True)
        proc = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
        proc.save_pretrained(out)
        vision = CLIPVisionModelWithProjection(cfg.vision_config).eval()
        vision.config.projection_dim = proj
        vision.visual_projection = torch.nn.Linear(hidden, proj, bias=False)
        vision.vision_model.load_state_dict(model.vision_model.state_dict())
        vision.visual_projection.load_state_dict(model.visual_projection.state_dict())
        pv = proc(images=img, return_tensors="pt")["pixel_values"]
        onnx = out / "onnx" / "vision_model.onnx"
        torch.onnx.export(Vision(vision), (pv,), str(onnx), input_names=["pixel_values"],
                          output_names=["image_embeds", "last_hidden_state"],
                          dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"},
                                        "last_hidden_state": {0: "batch"}}, opset_version=17, dynamo=False)
        quantize_dynamic(str(onnx), str(out / "onnx" / "vision_model_quantized.onnx"), weight_type=QuantType.QUInt8)
        with torch.no_grad():
            e = model.get_image_features(pixel_values=pv)
        e = (e / e.norm(dim=-1, keepdim=True))[0].tolist()
        (out / "reference.json").write_text(json.dumps({"image": "tests/fixtures/images/landscape.jpg", "embedding": e}))
        print("wrote", out)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/clip-bench"))
