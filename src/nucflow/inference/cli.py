"""``nucflow predict``: probability maps of a trained run on a set of manifest images.

Study mode (what the workflow's predict rule calls)::

    nucflow predict --model results/runs/RUN --manifest M --splits S --eval-set seven_lines:test --out DIR

writes ``DIR/<image_id>_prob.tif`` (float32, (H, W) for 2-class models, (3, H, W) for 3-class),
``DIR/ids.txt`` (the images, one per line) and ``DIR/predict.json`` (settings used). Outputs are written atomically.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from nucflow.data.manifest import load_manifest
from nucflow.data.split import select
from nucflow.errors import NucflowError
from nucflow.inference.predict import InferenceSettings, load_run, pick_device, predict_field
from nucflow.io import read_image, read_json, write_json, write_tiff


def parse_eval_set(text: str) -> tuple[str, str, list[str] | None, list[str] | None]:
    """``dataset:split[:Line1+Line2 | :exLine1+Line2]`` -> (dataset, split, lines, excluded lines)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise NucflowError(f"--eval-set {text!r}: expected dataset:split, dataset:split:Line1+Line2"
                           " or dataset:split:exLine1+Line2")
    if len(parts) == 2:
        return parts[0], parts[1], None, None
    if parts[2].startswith("ex"):
        return parts[0], parts[1], None, parts[2][2:].split("+")
    return parts[0], parts[1], parts[2].split("+"), None


def training_input(run) -> dict:
    """Tile size, normalisation and percentiles the run was trained with (from its tile set)."""
    path = Path(run.train_tiles[0])
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
    except (OSError, KeyError, ValueError) as exc:
        raise NucflowError(f"{path}: cannot read the training tile metadata ({type(exc).__name__})") from None
    return {"tile": int(meta["size"]), "normalisation": meta["normalisation"],
            "percentiles": tuple(meta.get("percentiles", (1.0, 99.8)))}


def add_arguments(parser) -> None:
    model = parser.add_argument_group("model")
    model.add_argument("--model", required=True, help="run folder with run.json and model.pt")
    data = parser.add_argument_group("images")
    data.add_argument("--manifest", required=True, help="manifest.csv")
    data.add_argument("--splits", required=True, help="splits.json")
    data.add_argument("--eval-set", required=True, help="dataset:split[:Line1+Line2|:exLine], e.g. seven_lines:test or seven_lines:test:exHepG2")
    out = parser.add_argument_group("output")
    out.add_argument("--out", required=True, help="folder for <image_id>_prob.tif")
    how = parser.add_argument_group("inference")
    how.add_argument("--overlap", type=float, default=0.5, help="tile overlap fraction (default 0.5)")
    how.add_argument("--batch-size", type=int, default=8, help="tiles per forward pass")
    how.add_argument("--tta", action="store_true", help="average over the 8 flips/rotations (D4)")
    how.add_argument("--device", help="cpu, cuda, cuda:1 … (default: CUDA if available)")
    how.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")


def run(args) -> int:
    import torch

    device = pick_device(args.device)
    model, run_config = load_run(args.model, device)
    trained = training_input(run_config)
    settings = InferenceSettings(overlap=args.overlap, batch_size=args.batch_size, tta=args.tta, device=device,
                                 autocast_dtype=torch.bfloat16 if args.bf16 else None)
    manifest = load_manifest(args.manifest, check_files=False)
    dataset, split, lines, excluded = parse_eval_set(args.eval_set)
    ids = select(read_json(args.splits), manifest.frame, dataset, split, lines=lines, exclude_lines=excluded)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for image_id in ids:
        path = manifest.file(image_id, run_config.modality)
        if path is None:
            raise NucflowError(f"{manifest.path}: image {image_id} has no {run_config.modality} image")
        prob = predict_field(model, run_config, read_image(path), settings, tile=trained["tile"],
                             normalisation=trained["normalisation"], percentiles=trained["percentiles"],
                             name=str(path))
        write_tiff(out / f"{image_id}_prob.tif", prob[0] if len(prob) == 1 else prob)
    seconds = time.perf_counter() - start
    (out / "ids.txt").write_text("".join(f"{i}\n" for i in ids))
    write_json(out / "predict.json", {"run": str(args.model), "eval_set": args.eval_set, "images": len(ids),
                                      "device": device, "overlap": args.overlap, "tta": args.tta,
                                      "seconds": round(seconds, 3), **trained})
    print(f"{out}: {len(ids)} probability maps in {seconds:.1f} s")
    return 0
