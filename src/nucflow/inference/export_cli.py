"""``nucflow export``: the command line of :func:`nucflow.inference.export.export_run`."""

from __future__ import annotations

from pathlib import Path

from nucflow.data.normalise import METHODS as NORMALISATIONS
from nucflow.inference.bioimageio import BIOIMAGEIO, validate_bioimageio
from nucflow.inference.export import export_run
from nucflow.inference.model_spec import SIDECAR, WEIGHTS, parse_percentiles


def add_arguments(parser) -> None:
    model = parser.add_argument_group("model")
    model.add_argument("--model", required=True, help="run folder with run.json and model.pt")
    model.add_argument("--out", required=True, help=f"export folder ({WEIGHTS}, {SIDECAR}, {BIOIMAGEIO})")
    recorded = parser.add_argument_group("recorded input (read from the training tiles when they are here)")
    recorded.add_argument("--tile", type=int, help="training tile size (px)")
    recorded.add_argument("--normalisation", choices=NORMALISATIONS, help="training normalisation")
    recorded.add_argument("--percentiles", help="low,high percentiles, e.g. 1,99.8")
    recorded.add_argument("--pixel-size-um", type=float, help="pixel size of the training images (µm)")
    describe = parser.add_argument_group("bioimage.io")
    describe.add_argument("--no-bioimageio", action="store_true", help="do not write bioimageio.yaml")
    describe.add_argument("--author", default="nucflow", help="author named in bioimageio.yaml")


def run(args) -> int:
    sidecar = export_run(args.model, args.out, author=args.author, bioimageio=not args.no_bioimageio,
                         tile=args.tile, normalisation=args.normalisation,
                         percentiles=parse_percentiles(args.percentiles), pixel_size_um=args.pixel_size_um)
    print(f"{args.out}: {WEIGHTS} + {SIDECAR} ({sidecar['model']}, {sidecar['modality']}, "
          f"tile {sidecar['tile']}, {sidecar['normalisation']} normalisation)")
    if "bioimageio" in sidecar:
        message = sidecar["bioimageio"]
        if message.startswith("written"):
            try:
                _, status = validate_bioimageio(Path(args.out) / BIOIMAGEIO)
                message += f", bioimageio.spec validation: {status}"
            except ImportError:
                message += " (not validated: pip install 'nucflow[export]' for bioimageio.spec)"
        print(f"{args.out}: bioimage.io description {message}")
    return 0
