#!/usr/bin/env python3
"""Makes the page's built-in demo captioner (www/demo/): a tiny CLIP vision encoder and a tiny
GPT-2, both random and frozen, joined by cross-attention and LoRA that `glimpse train` trains on
a synthetic shapes set, so that its captions and its attention maps make sense for those images.

The images: a red, green, blue or yellow square on the left or the right of a grey field, one
caption each ("a red square on the left"; several phrasings split the tiny decoder's probability
and let stray tokens through). The encoder sees a 4 x 4 grid of patches and every square sits
inside one cell of that grid, so one patch holds the whole square and the other fifteen are the
same grey: to name the colour the decoder must look at that patch, and to name the side, at
where it is (its position embedding travels with it). The encoder's self-attention passes
nothing between patches (v_proj is zero), so no other patch carries the square's colour. The
training set holds every cell of each side but one per colour; the demo's photos are those held
out (a colour at a cell it was never trained at). tests/it/demo.rs checks that every colour
word's map (the mean over layers, as the page shows it) peaks on the square's cell. The side
words' maps mostly do not: the decoder has read where the square is while naming its colour. (Tried before: squares at any offset, spanning up to
four patches, whose maps only leaned towards the square; 8 x 8 patches of a 32 x 32 image with
mixing self-attention, whose maps ignored it; circles, which read as squares.) It is small
enough to ship with the page (under 10 MB) and loads with no download.

    /path/to/venv/bin/python www/demo/make_demo.py      (after ./build.sh native)

Needs numpy 2.4.6, Pillow 13.0.0 and safetensors 0.8.0 (no torch), and target/release/glimpse.
Writes www/demo/{encoder,decoder,peft}/, www/demo/images/ (the demo's photos: made here, public
domain) and www/demo/captions.json (the CLI's captions of them, which the browser suite compares
the page's against). Deterministic: the same seed gives the same files.
"""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "www" / "demo"
GLIMPSE = ROOT / "target" / "release" / "glimpse"

COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 80, 230), "yellow": (235, 210, 40)}
SIDES = ["left", "right"]
SIZE = 128  # pixels of the photos (the encoder sees 64 x 64, as its preprocessor_config says)
GRID = 4  # patches a side (16 x 16 patches of the 64 x 64 input): a cell is SIZE // GRID pixels
# The position embeddings: only the patch's column and row, along two fixed directions, and
# weakly. With a random part (std 0.1 to 0.5 were tried) or a strong one, the grey patches'
# keys differ and the heads that need nothing from the image park on some of them, so the mean
# map peaked on the square for a colour word in only 1 to 6 of 8 photos; with weak ones a head
# that looks at the grey looks at all of it alike, and the square's patch stands out (8 of 8).
POSITION_STD = 0.0  # the random part of the position embeddings (none)
POSITION_XY = 0.02  # how strongly they carry a patch's column and row
MARGIN = 4  # grey pixels between the square and its cell's edges: resizing blurs the edge this far

# The encoder: a CLIP vision tower of 32 hidden units, 16 x 16 patches of a 64 x 64 image (a 4 x 4
# grid), 1 layer. The decoder: GPT-2 of 32 units, 2 layers, GPT-2's vocabulary (its tokenizer).
VISION = {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_hidden_layers": 1, "image_size": 64, "patch_size": 16}
GPT2 = {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 32, "vocab_size": 50257}


def cells(side):
    """The grid cells (row, column) of a side: its two columns, every row."""
    cols = range(GRID // 2) if side == "left" else range(GRID // 2, GRID)
    return [(r, c) for r in range(GRID) for c in cols]


def held_out(colour, side):
    """The one cell of `side` where `colour` is never trained: the demo's photo of them."""
    return cells(side)[(3 * list(COLOURS).index(colour) + 1) % len(cells(side))]


def draw(colour, cell, size=SIZE):
    """One photo: a square filling grid cell (row, column) less a margin, on grey."""
    img = Image.new("RGB", (size, size), (128, 128, 128))
    step, m = size // GRID, MARGIN * size // SIZE
    r, c = cell
    ImageDraw.Draw(img).rectangle([c * step + m, r * step + m, (c + 1) * step - m - 1, (r + 1) * step - m - 1], fill=COLOURS[colour])
    return img


def shapes_set(folder):
    """The training set: images and a COCO-style caption file."""
    images = folder / "images"
    images.mkdir(parents=True)
    ims, anns = [], []
    for colour in COLOURS:
        for side in SIDES:
            for cell in cells(side):
                if cell == held_out(colour, side):
                    continue
                i = len(ims)
                name = f"{i:04}.png"
                draw(colour, cell).save(images / name)
                ims.append({"file_name": name, "id": i})
                anns.append({"image_id": i, "caption": f"a {colour} square on the {side}"})
    (folder / "captions.json").write_text(json.dumps({"images": ims, "annotations": anns}))
    return folder / "captions.json", images


def normal(rng, shape, std):
    return (rng.standard_normal(shape) * std).astype(np.float32)


def encoder(folder, rng):
    """A CLIP folder (vision tower and a minimal text tower, so it is a complete CLIPModel)."""
    folder.mkdir(parents=True)
    v = VISION
    n, grid = v["hidden_size"], v["image_size"] // v["patch_size"]
    text = {"hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 2, "num_hidden_layers": 1, "max_position_embeddings": 77, "vocab_size": 49408}
    config = {
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 16, "logit_scale_init_value": 2.6592,
        "vision_config": {**v, "model_type": "clip_vision_model", "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "num_channels": 3},
        "text_config": {**text, "model_type": "clip_text_model", "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 1},
    }
    t = {}
    def layers(prefix, width, inner, count):
        for i in range(count):
            p = f"{prefix}.encoder.layers.{i}"
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                # The vision tower's v_proj is zero: self-attention mixes nothing between patches.
                zero = proj == "v_proj" and prefix == "vision_model"
                t[f"{p}.self_attn.{proj}.weight"] = np.zeros((width, width), np.float32) if zero else normal(rng, (width, width), width ** -0.5)
                t[f"{p}.self_attn.{proj}.bias"] = np.zeros(width, np.float32)
            t[f"{p}.mlp.fc1.weight"] = normal(rng, (inner, width), width ** -0.5)
            t[f"{p}.mlp.fc1.bias"] = np.zeros(inner, np.float32)
            t[f"{p}.mlp.fc2.weight"] = normal(rng, (width, inner), inner ** -0.5)
            t[f"{p}.mlp.fc2.bias"] = np.zeros(width, np.float32)
            for ln in ("layer_norm1", "layer_norm2"):
                t[f"{p}.{ln}.weight"] = np.ones(width, np.float32)
                t[f"{p}.{ln}.bias"] = np.zeros(width, np.float32)
    vm = "vision_model"
    t[f"{vm}.embeddings.class_embedding"] = normal(rng, (n,), 1.0)
    t[f"{vm}.embeddings.patch_embedding.weight"] = normal(rng, (n, 3, v["patch_size"], v["patch_size"]), (3 * v["patch_size"] ** 2) ** -0.5)
    # Position embeddings: the patch's column and row along two fixed directions (a trained ViT's
    # are smooth over the grid too), so "left" and "right" read off any cell.
    pos = normal(rng, (grid * grid + 1, n), POSITION_STD)
    across, down = normal(rng, (2, n), 1.0)
    for i in range(grid * grid):
        x, y = (i % grid) / (grid - 1) * 2 - 1, (i // grid) / (grid - 1) * 2 - 1
        pos[1 + i] += POSITION_XY * (x * across + y * down)
    t[f"{vm}.embeddings.position_embedding.weight"] = pos
    for ln in ("pre_layrnorm", "post_layernorm"):
        t[f"{vm}.{ln}.weight"] = np.ones(n, np.float32)
        t[f"{vm}.{ln}.bias"] = np.zeros(n, np.float32)
    layers(vm, n, v["intermediate_size"], v["num_hidden_layers"])
    tm, w = "text_model", text["hidden_size"]
    t[f"{tm}.embeddings.token_embedding.weight"] = normal(rng, (text["vocab_size"], w), 0.02)
    t[f"{tm}.embeddings.position_embedding.weight"] = normal(rng, (77, w), 0.01)
    t[f"{tm}.final_layer_norm.weight"] = np.ones(w, np.float32)
    t[f"{tm}.final_layer_norm.bias"] = np.zeros(w, np.float32)
    layers(tm, w, text["intermediate_size"], text["num_hidden_layers"])
    t["visual_projection.weight"] = normal(rng, (16, n), n ** -0.5)
    t["text_projection.weight"] = normal(rng, (16, w), w ** -0.5)
    t["logit_scale"] = np.array(2.6592, np.float32)
    save_file(t, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    # CLIP's own preprocessing, at 64 x 64.
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": {"height": 64, "width": 64}, "do_center_crop": True, "do_normalize": True, "do_resize": True, "do_convert_rgb": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
        "resample": 3, "size": {"shortest_edge": 64}, "image_processor_type": "CLIPImageProcessor",
    }, indent=1))


def decoder(folder, rng):
    """A GPT-2 folder without cross-attention; token embeddings of norm 3, as a trained GPT-2's."""
    folder.mkdir(parents=True)
    g = GPT2
    n, vocab = g["n_embd"], g["vocab_size"]
    wte = rng.standard_normal((vocab, n)).astype(np.float32)
    wte *= 3.0 / np.maximum(np.linalg.norm(wte, axis=1, keepdims=True), 1e-6)
    t = {"wte.weight": wte, "wpe.weight": normal(rng, (g["n_positions"], n), 0.1), "ln_f.weight": np.ones(n, np.float32), "ln_f.bias": np.zeros(n, np.float32)}
    for i in range(g["n_layer"]):
        for name, shape in (("attn.c_attn", (n, 3 * n)), ("attn.c_proj", (n, n)), ("mlp.c_fc", (n, 4 * n)), ("mlp.c_proj", (4 * n, n))):
            t[f"h.{i}.{name}.weight"] = normal(rng, shape, 0.02)
            t[f"h.{i}.{name}.bias"] = np.zeros(shape[1], np.float32)
        for ln in ("ln_1", "ln_2"):
            t[f"h.{i}.{ln}.weight"] = np.ones(n, np.float32)
            t[f"h.{i}.{ln}.bias"] = np.zeros(n, np.float32)
    save_file(t, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps({**g, "model_type": "gpt2", "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "bos_token_id": 50256, "eos_token_id": 50256}, indent=1))


TRAIN = """encoder = "{encoder}"
decoder = "{decoder}"
train_captions = "{captions}"
train_images = "{images}"
out = "{out}"
method = "lora"
epochs = 500
batch_size = 8
lr = 3e-3
weight_decay = 0.0
lr_gamma = 1.0
augment = false
backend = "cpu"
checkpoint_every = 0
seed = 7
max_tokens = 10
[lora]
r = 8
lora_alpha = 8.0
lora_dropout = 0.0
target_modules = ["c_attn", "q_attn", "c_fc", "c_proj"]
"""


def main():
    if not GLIMPSE.exists():
        sys.exit(f"{GLIMPSE}: build it first (./build.sh native)")
    rng = np.random.default_rng(20261203)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        captions, images = shapes_set(tmp / "data")
        for part in ("encoder", "decoder", "peft", "images"):
            shutil.rmtree(OUT / part, ignore_errors=True)
        encoder(OUT / "encoder", rng)
        decoder(OUT / "decoder", rng)
        config = tmp / "train.toml"
        config.write_text(TRAIN.format(encoder=OUT / "encoder", decoder=OUT / "decoder", captions=captions, images=images, out=tmp / "run"))
        subprocess.run([str(GLIMPSE), "train", "--config", str(config)], check=True)
        best = tmp / "run" / "checkpoints" / "last"  # no validation set: the last checkpoint
        (OUT / "peft").mkdir()
        for f in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copy(best / f, OUT / "peft" / f)
        # The checkpoint names its encoder and decoder by this machine's paths: the page gives them.
        cfg = json.loads((OUT / "peft" / "adapter_config.json").read_text())
        cfg["base_encoder"], cfg["base_decoder"] = "../encoder/", "../decoder/"
        (OUT / "peft" / "adapter_config.json").write_text(json.dumps(cfg, indent=1))
    # The demo's photos: each colour on each side at the cell it was never trained at.
    (OUT / "images").mkdir()
    names = []
    for colour in COLOURS:
        for side in SIDES:
            name = f"{colour}_square_{side}.png"
            draw(colour, held_out(colour, side)).save(OUT / "images" / name)
            names.append(name)
    (OUT / "images" / "index.json").write_text(json.dumps(names, indent=1))
    out = subprocess.run(
        [str(GLIMPSE), "caption", "--backend", "cpu", "--encoder", str(OUT / "encoder"), "--decoder", str(OUT / "decoder"), "--peft", str(OUT / "peft"),
         *[str(OUT / "images" / n) for n in names]],
        check=True, capture_output=True, text=True,
    ).stdout
    (OUT / "captions.json").write_text(out)
    print(out)


if __name__ == "__main__":
    main()
