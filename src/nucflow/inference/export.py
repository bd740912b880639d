"""``nucflow export``: a trained run as a self-contained TorchScript model plus a JSON sidecar.

What prediction needs to know about a model is a :class:`ModelSpec`: its input (modality, planes,
normalisation with percentiles, tile size), its output channels and its default post-processing.
A run folder holds it spread over ``run.json`` and the training tile set's metadata
(:func:`spec_from_run`); an export holds it in one file (``nucflow_model.json``), so a model can be
shipped and applied without the training tiles or the training code. :func:`load_model` accepts
either form.

Export folder::

    model.ts                TorchScript, CPU, eval mode; (N, C, tile, tile) float32 normalised -> logits
    nucflow_model.json      the ModelSpec, post-processing, versions, run.json (provenance)
    bioimageio.yaml         bioimage.io model description (percentile-normalised models), with
    README.md, test_input.npy, test_output.npy   its documentation and test tensors

The network is traced at the tile size; prediction always feeds it whole tiles (smaller images are
padded), so the traced shapes are the only ones it meets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from nucflow import __version__
from nucflow.data.normalise import METHODS as NORMALISATIONS
from nucflow.data.tiles import read_tile_meta
from nucflow.errors import NucflowError
from nucflow.io import ensure_dir, read_json, write_json

SIDECAR = "nucflow_model.json"
WEIGHTS = "model.ts"
BIOIMAGEIO = "bioimageio.yaml"
SIDECAR_FORMAT = 1
PAPER = ("Ali MAS, Misko O, Salumaa SO, et al. Evaluating very deep convolutional neural networks for "
         "nucleus segmentation from brightfield cell microscopy images. SLAS Discovery 26(9), 2021.")
PAPER_DOI = "10.1177/24725552211023214"


@dataclass(frozen=True)
class ModelSpec:
    """How to feed a trained network and read its output.

    Carries the attributes of :class:`~nucflow.training.config.RunConfig` that
    :func:`nucflow.inference.predict.predict_field` reads (``run_id``, ``modality``, ``in_channels``,
    ``planes``), so it can stand in for the run config there.

    Attributes:
        run_id: name of the training run.
        model: registry name of the architecture; width: its filter multiplier.
        modality: ``"brightfield"`` or ``"fluorescence"``.
        in_channels: network input channels; out_channels: 1 (foreground) or 3 (three-class).
        planes: indices into the raw plane stack that become the input channels, in order
            (empty: the first ``in_channels`` planes).
        tile: square tile edge (px) the network was trained on.
        normalisation: ``"percentile"`` or ``"foreground"`` (NuSeT, two passes).
        percentiles: (low, high) percentiles mapped to 0 and 1.
        method: default post-processing method; params: its parameter overrides.
        pixel_size_um: pixel edge of the training images in µm, if known.
    """

    run_id: str
    model: str
    width: float
    modality: str
    in_channels: int
    out_channels: int
    planes: tuple[int, ...]
    tile: int
    normalisation: str
    percentiles: tuple[float, float]
    method: str = "published"
    params: dict = dataclasses.field(default_factory=dict)
    pixel_size_um: float | None = None

    def __post_init__(self) -> None:
        if self.normalisation not in NORMALISATIONS:
            raise NucflowError(f"model {self.run_id}: unknown normalisation {self.normalisation!r}; "
                               f"choose from {', '.join(NORMALISATIONS)}")
        if self.tile < 8:
            raise NucflowError(f"model {self.run_id}: tile size must be >= 8 px, got {self.tile}")
        low, high = self.percentiles
        if not 0 <= low < high <= 100:
            raise NucflowError(f"model {self.run_id}: percentiles must satisfy 0 <= low < high <= 100, "
                               f"got {low}, {high}")
        if self.planes and len(self.planes) != self.in_channels:
            raise NucflowError(f"model {self.run_id}: {len(self.planes)} planes {list(self.planes)} for "
                               f"{self.in_channels} input channels")

    @property
    def threshold(self) -> float:
        """Foreground probability threshold of the post-processing (0.5 unless overridden)."""
        return float(self.params.get("threshold", 0.5))

    def replace(self, **changes) -> ModelSpec:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["planes"], out["percentiles"] = list(self.planes), list(self.percentiles)
        return out

    @classmethod
    def from_dict(cls, data: dict, source: str) -> ModelSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            values = {key: data[key] for key in names if key in data}
            values["planes"] = tuple(int(p) for p in values.get("planes", ()))
            values["percentiles"] = tuple(float(p) for p in values["percentiles"])
            return cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise NucflowError(f"{source}: not a valid nucflow model description "
                               f"({type(exc).__name__}: {exc})") from None


# ---------------------------------------------------------------------------------------------
# from a run folder


def recorded_input(run_dir: str | Path) -> dict | None:
    """The input spec (tile, normalisation, percentiles, pixel size) that training recorded in the
    run folder's ``train_done.json``, or None for runs finished before it was recorded."""
    path = Path(run_dir) / "train_done.json"
    if not path.is_file():
        return None
    spec = read_json(path).get("input")
    if not isinstance(spec, dict) or not {"tile", "normalisation", "percentiles"} <= set(spec):
        return None
    return {"tile": int(spec["tile"]), "normalisation": spec["normalisation"],
            "percentiles": tuple(float(p) for p in spec["percentiles"]), "pixel_size_um": spec.get("pixel_size_um")}


def find_tile_set(recorded: str, run_dir: Path) -> Path | None:
    """The training tile set as recorded in run.json, or relative to a folder above the run
    (a workflow's paths are relative to its root: ``results/runs/RUN`` -> ``results/tiles/...``)."""
    candidates = [Path(recorded)]
    if not Path(recorded).is_absolute():
        candidates += [parent / recorded for parent in run_dir.resolve().parents]
    return next((c for c in candidates if c.is_file()), None)


def default_method(out_channels: int) -> str:
    return "three_class" if out_channels == 3 else "published"


def spec_from_run(run_dir: str | Path, run, *, tile: int | None = None, normalisation: str | None = None,
                  percentiles: tuple[float, float] | None = None,
                  pixel_size_um: float | None = None) -> ModelSpec:
    """The ModelSpec of a run folder: ``run.json`` plus the input spec it was trained with.

    Values given here win; the rest come from ``train_done.json`` (training records the spec there),
    or for older runs from the first training tile set, found as recorded or relative to a folder
    above the run. A clear error when neither can tell the tile size,
    normalisation or percentiles; the pixel size stays None (unknown) when nothing records it.
    """
    run_dir = Path(run_dir)
    given = {"tile": tile, "normalisation": normalisation, "percentiles": percentiles}
    recorded = recorded_input(run_dir)
    if recorded is not None:  # the run folder is enough: training recorded its input spec
        given = {key: recorded[key] if value is None else value for key, value in given.items()}
        pixel_size_um = recorded["pixel_size_um"] if pixel_size_um is None else pixel_size_um
    elif any(value is None for value in given.values()):
        path = find_tile_set(run.train_tiles[0], run_dir)
        if path is None:
            options = [f"--{k}" for k, v in given.items() if v is None]
            missing = " and ".join([", ".join(options[:-1]), options[-1]] if len(options) > 1 else options)
            raise NucflowError(
                f"{run_dir}: cannot tell the tile size and normalisation the model was trained with: its "
                f"training tiles {run.train_tiles[0]} are not on this machine. Export the model where "
                f"they are (nucflow export), or give {missing}")
        recorded = read_tile_meta(path)
        given = {key: recorded[key] if value is None else value for key, value in given.items()}
        pixel_size_um = recorded["pixel_size_um"] if pixel_size_um is None else pixel_size_um
    elif pixel_size_um is None:  # tile, normalisation and percentiles given: the pixel size if the tiles are here
        path = find_tile_set(run.train_tiles[0], run_dir)
        pixel_size_um = read_tile_meta(path)["pixel_size_um"] if path is not None else None
    return ModelSpec(run_id=run.run_id, model=run.model, width=run.width, modality=run.modality,
                     in_channels=run.in_channels, out_channels=run.out_channels, planes=tuple(run.planes),
                     tile=int(given["tile"]), normalisation=given["normalisation"],
                     percentiles=tuple(float(p) for p in given["percentiles"]),
                     method=default_method(run.out_channels), pixel_size_um=pixel_size_um)


# ---------------------------------------------------------------------------------------------
# loading either form


def load_export(folder: str | Path, device: str = "cpu"):
    """(TorchScript network on ``device`` in eval mode, ModelSpec) of an export folder."""
    import torch

    folder = Path(folder)
    sidecar = read_json(folder / SIDECAR)
    if not isinstance(sidecar, dict) or sidecar.get("format") != "nucflow-model":
        raise NucflowError(f"{folder / SIDECAR}: not a nucflow model description")
    spec = ModelSpec.from_dict(sidecar, str(folder / SIDECAR))
    weights = folder / sidecar.get("weights", WEIGHTS)
    if not weights.is_file():
        raise NucflowError(f"{weights}: not found (the export is incomplete)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # see trace()
            network = torch.jit.load(str(weights), map_location=device)
    except (RuntimeError, OSError, ValueError) as exc:
        raise NucflowError(f"{weights}: cannot load TorchScript ({type(exc).__name__}: {exc})") from None
    return network.eval(), spec


def load_model(path: str | Path, device: str = "cpu", **input_overrides):
    """(network, ModelSpec) from an export folder, a run folder, or a file inside either.

    ``input_overrides`` (tile, normalisation, percentiles) fill in what a run folder cannot tell on
    its own; an export records them, so giving one with an export is an error.
    """
    from nucflow.inference.predict import load_run

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if (folder / SIDECAR).is_file():
        given = sorted(k for k, v in input_overrides.items() if v is not None)
        if given:
            raise NucflowError(f"--{given[0]}: an export records its input; the option is for run folders")
        return load_export(folder, device)
    if (folder / "run.json").is_file():
        network, run = load_run(folder, device)
        return network, spec_from_run(folder, run, **input_overrides)
    if not path.exists():
        raise NucflowError(f"--model {path}: not found")
    raise NucflowError(f"--model {path}: neither a run folder (run.json + model.pt) nor an export "
                       f"({SIDECAR} + {WEIGHTS})")


# ---------------------------------------------------------------------------------------------
# writing an export


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def trace(network, spec: ModelSpec):
    """TorchScript of ``network`` traced on CPU in eval mode at (1, C, tile, tile)."""
    import torch

    network = network.to("cpu").eval()
    example = torch.zeros(1, spec.in_channels, spec.tile, spec.tile)
    with warnings.catch_warnings(), torch.no_grad():
        # torch marks TorchScript deprecated; it is still the format bioimage.io, Fiji (deepImageJ) and
        # torch itself load without the model code. Tracing also warns about shape-dependent Python
        # values, which is what fixing the input at the tile size means.
        warnings.simplefilter("ignore")
        return torch.jit.trace(network, example)


def export_run(run_dir: str | Path, out: str | Path, *, author: str = "nucflow", bioimageio: bool = True,
               **input_overrides) -> dict:
    """Write the export of a run folder into ``out``; returns the sidecar content."""
    import torch

    from nucflow.inference.predict import load_run
    from nucflow.postprocess import default_params

    run_dir, out = Path(run_dir), Path(out)
    network, run = load_run(run_dir, "cpu")
    spec = spec_from_run(run_dir, run, **input_overrides)
    spec = spec.replace(params=default_params(spec.method))
    ensure_dir(out)
    weights = out / WEIGHTS
    tmp = out / f".{WEIGHTS}.part"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # see trace()
        torch.jit.save(trace(network, spec), str(tmp))
    tmp.replace(weights)
    sidecar = {
        "format": "nucflow-model", "format_version": SIDECAR_FORMAT, **spec.to_dict(),
        "threshold": spec.threshold, "weights": WEIGHTS, "weights_sha256": sha256(weights),
        "input": f"(N, {spec.in_channels}, {spec.tile}, {spec.tile}) float32, normalised as recorded",
        "output": f"(N, {spec.out_channels}, {spec.tile}, {spec.tile}) logits; "
                  + ("sigmoid gives the foreground probability" if spec.out_channels == 1
                     else "softmax over channels gives background / interior / boundary"),
        "nucflow_version": __version__, "torch_version": torch.__version__.split("+")[0],
        "run": run.to_dict(),
    }
    write_json(out / SIDECAR, sidecar)
    if bioimageio:
        sidecar["bioimageio"] = write_bioimageio(network, spec, out, author=author,
                                                 timestamp=_timestamp(run_dir / "model.pt"))
    return sidecar


def _timestamp(path: Path) -> str:
    """ISO time of the weights file, so exporting the same run twice gives the same description."""
    return datetime.fromtimestamp(int(path.stat().st_mtime), UTC).isoformat()


def write_bioimageio(network, spec: ModelSpec, out: Path, *, author: str, timestamp: str) -> str:
    """Write ``bioimageio.yaml`` and its files; returns what was done, in words.

    bioimage.io preprocessing has ``scale_range`` for percentile normalisation but nothing for
    NuSeT's two-pass foreground normalisation, so those models get no description.
    """
    import torch
    import yaml

    if spec.normalisation != "percentile":
        return f"not written: {spec.normalisation!r} normalisation cannot be expressed as bioimage.io preprocessing"
    rng = np.random.default_rng(0)
    raw = rng.normal(1000, 100, (1, spec.in_channels, spec.tile, spec.tile)).astype(np.float32)
    low, high = np.percentile(raw, spec.percentiles, axis=(2, 3), keepdims=True)
    normalised = (raw - low) / (high - low + 1e-6)
    with torch.no_grad():
        logits = network.to("cpu").eval()(torch.from_numpy(normalised.astype(np.float32)))
        prob = torch.sigmoid(logits) if spec.out_channels == 1 else torch.softmax(logits, dim=1)
    np.save(out / "test_input.npy", raw)
    np.save(out / "test_output.npy", prob.numpy().astype(np.float32))
    (out / "README.md").write_text(_readme(spec))
    channel_names = ([f"plane{p}" for p in spec.planes] if spec.planes
                     else [f"channel{c}" for c in range(spec.in_channels)])
    output_names = ["foreground"] if spec.out_channels == 1 else ["background", "interior", "boundary"]
    description = {
        "format_version": "0.5.4", "type": "model",
        "name": f"nucflow {spec.model} {spec.modality} nuclei",
        "description": f"Nucleus segmentation from {spec.modality} images ({spec.model}, run {spec.run_id}), "
                       "trained with nucflow.",
        "authors": [{"name": author}],
        "cite": [{"text": PAPER, "doi": PAPER_DOI}],
        "license": "MIT",
        "documentation": "README.md",
        "tags": ["nucleus", "segmentation", spec.modality, "nucflow", "2d"],
        "timestamp": timestamp,
        "inputs": [{
            "id": "raw", "description": f"{spec.modality} field, {spec.in_channels} channel(s)",
            "axes": [{"type": "batch"}, {"type": "channel", "channel_names": channel_names},
                     {"type": "space", "id": "y", "size": spec.tile},
                     {"type": "space", "id": "x", "size": spec.tile}],
            "test_tensor": {"source": "test_input.npy", "sha256": sha256(out / "test_input.npy")},
            "preprocessing": [
                {"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},
                {"id": "scale_range", "kwargs": {"axes": ["y", "x"], "min_percentile": spec.percentiles[0],
                                                 "max_percentile": spec.percentiles[1]}},
            ],
        }],
        "outputs": [{
            "id": "prob", "description": "probability per class",
            "axes": [{"type": "batch"}, {"type": "channel", "channel_names": output_names},
                     {"type": "space", "id": "y", "size": {"tensor_id": "raw", "axis_id": "y"}},
                     {"type": "space", "id": "x", "size": {"tensor_id": "raw", "axis_id": "x"}}],
            "test_tensor": {"source": "test_output.npy", "sha256": sha256(out / "test_output.npy")},
            "data": {"range": [0.0, 1.0]},
            "postprocessing": [{"id": "sigmoid"} if spec.out_channels == 1
                               else {"id": "softmax", "kwargs": {"axis": "channel"}}],
        }],
        "weights": {"torchscript": {"source": WEIGHTS, "sha256": sha256(out / WEIGHTS),
                                    "pytorch_version": torch.__version__.split("+")[0]}},
        "config": {"nucflow": {"sidecar": SIDECAR, "tile": spec.tile, "method": spec.method,
                               "pixel_size_um": spec.pixel_size_um}},
    }
    (out / BIOIMAGEIO).write_text(yaml.safe_dump(description, sort_keys=False))
    return f"written: {BIOIMAGEIO}"


def _readme(spec: ModelSpec) -> str:
    planes = f"planes {list(spec.planes)} of the focal stack" if spec.planes else f"{spec.in_channels} channel(s)"
    return (f"# nucflow {spec.model} ({spec.modality})\n\n"
            f"Nucleus segmentation network trained with nucflow (run `{spec.run_id}`).\n\n"
            f"* input: {spec.modality}, {planes}, each channel scaled so its {spec.percentiles[0]:g} and "
            f"{spec.percentiles[1]:g} percentiles become 0 and 1 over the whole field\n"
            f"* tiles of {spec.tile} x {spec.tile} px; whole fields are predicted with overlapping tiles "
            "and Gaussian blending (`nucflow predict`)\n"
            f"* output: {'foreground probability' if spec.out_channels == 1 else 'background / interior / boundary'}"
            f"; instances by `{spec.method}` post-processing (threshold {spec.threshold:g})\n"
            f"* pixel size of the training images: "
            f"{'unknown' if spec.pixel_size_um is None else f'{spec.pixel_size_um:g} µm'}\n\n"
            f"Cite: {PAPER} doi:{PAPER_DOI}\n\n"
            "## Validation\n\n"
            "`test_input.npy` is a synthetic field; `test_output.npy` is this network's output for it. "
            "Accuracy on real data is in the nucflow study tables of the run.\n")


def validate_bioimageio(path: str | Path) -> tuple[bool, str]:
    """(passed, one-line summary) from ``bioimageio.spec``; raises ImportError when it is absent."""
    from bioimageio.spec import load_description

    description = load_description(Path(path), perform_io_checks=True)
    summary = description.validation_summary
    errors = [f"{'.'.join(map(str, e.loc))}: {e.msg}" for d in summary.details for e in d.errors]
    return summary.status in ("passed", "valid-format"), f"{summary.status}" + (f": {errors[0]}" if errors else "")


# ---------------------------------------------------------------------------------------------
# CLI


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


def parse_percentiles(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise NucflowError(f"--percentiles {text!r}: expected low,high, e.g. 1,99.8") from None
    return low, high


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
