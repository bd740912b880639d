"""What prediction needs to know about a trained model, and how to load one.

A :class:`ModelSpec` is a model's input (modality, planes, normalisation with percentiles, tile size,
pixel size), its output channels and its default post-processing. A run folder holds it in
``run.json`` plus the input spec that training recorded in ``train_done.json``
(:func:`spec_from_run`), and the instance method chosen for it on validation images in
``instance_method.json`` when the study chose one (:func:`recorded_method`); an export (``nucflow export``) holds it in one file, ``nucflow_model.json``.
:func:`load_model` accepts either form, so ``nucflow predict --model`` takes both.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path

from nucflow.data.normalise import METHODS as NORMALISATIONS
from nucflow.data.tiles import read_tile_meta
from nucflow.errors import NucflowError
from nucflow.io import read_json
from nucflow.postprocess.registry import methods_reading

SIDECAR = "nucflow_model.json"
#: the network's weights in an export: a plain state_dict, loaded weights-only into the registry's
#: architecture (what nucflow itself loads)
WEIGHTS = "model.pt"
#: the same network as TorchScript, for other tools (bioimage.io, Fiji); nucflow loads it only
#: when told to trust it (``--trust-torchscript``): a TorchScript graph can read and write files
TORCHSCRIPT = "model.ts"
#: the instance method chosen for a run on its validation images (nucflow choose method)
METHOD_RECORD = "instance_method.json"
#: post-processing methods that read one foreground probability map (a network with one output
#: channel): the methods registered with ``reads="foreground"``
FOREGROUND_METHODS = methods_reading("foreground")


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


def recorded_method(run_dir: str | Path, out_channels: int) -> tuple[str, dict] | None:
    """(method, params) that ``instance_method.json`` in the run folder records, or None when the
    study chose none for this run. A record that names a method the network cannot feed is refused."""
    from nucflow.postprocess.registry import make_params

    path = Path(run_dir) / METHOD_RECORD
    if not path.is_file():
        return None
    content = read_json(path)
    method = content.get("method") if isinstance(content, dict) else None
    params = content.get("params", {}) if isinstance(content, dict) else None
    if method not in FOREGROUND_METHODS or out_channels != 1 or not isinstance(params, dict):
        raise NucflowError(f"{path}: not a valid instance-method record for a {out_channels}-channel model "
                           f"(expected 'method' among {', '.join(FOREGROUND_METHODS)} and a 'params' object)")
    try:
        make_params(method, **params)
    except NucflowError as exc:
        raise NucflowError(f"{path}: {exc}") from None
    return method, dict(params)


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
    method, params = recorded_method(run_dir, run.out_channels) or (default_method(run.out_channels), {})
    return ModelSpec(run_id=run.run_id, model=run.model, width=run.width, modality=run.modality,
                     in_channels=run.in_channels, out_channels=run.out_channels, planes=tuple(run.planes),
                     tile=int(given["tile"]), normalisation=given["normalisation"],
                     percentiles=tuple(float(p) for p in given["percentiles"]),
                     method=method, params=params, pixel_size_um=pixel_size_um)


# ---------------------------------------------------------------------------------------------
# loading either form


def _inside(folder: Path, name, key: str) -> Path:
    """The file ``name`` that the sidecar's ``key`` names, which must lie in the model folder itself."""
    if not isinstance(name, str) or not name or Path(name).is_absolute() or len(Path(name).parts) != 1:
        raise NucflowError(f"{folder / SIDECAR}: {key} {name!r} must name a file inside the model folder")
    path = folder / name
    if not path.is_file():
        raise NucflowError(f"{path}: not found (the export is incomplete)")
    return path


def load_export(folder: str | Path, device: str = "cpu", *, trust_torchscript: bool = False):
    """(network on ``device`` in eval mode, ModelSpec) of an export folder.

    The network is the registry's architecture of the recorded run with the export's weights
    (``model.pt``, loaded weights-only). Its TorchScript copy (``model.ts``) is loaded instead only
    with ``trust_torchscript``: loading and running a TorchScript graph can read and write files, so
    an export from someone else must not be run that way. An export that holds only TorchScript (made
    by earlier versions) is refused in one line unless trusted.
    """
    from nucflow.inference.predict import network_from_weights
    from nucflow.training.config import RunConfig

    folder = Path(folder)
    sidecar = read_json(folder / SIDECAR)
    if not isinstance(sidecar, dict) or sidecar.get("format") != "nucflow-model":
        raise NucflowError(f"{folder / SIDECAR}: not a nucflow model description")
    spec = ModelSpec.from_dict(sidecar, str(folder / SIDECAR))
    if trust_torchscript:
        return _load_torchscript(_inside(folder, sidecar.get("torchscript", sidecar.get("weights")), "torchscript"),
                                 device), spec
    weights = sidecar.get("weights")
    if not isinstance(weights, str) or weights.endswith(".ts") or not isinstance(sidecar.get("run"), dict):
        raise NucflowError(f"{folder}: this export holds its network only as TorchScript, which can run code when "
                           "loaded; export the run again with this nucflow, or pass --trust-torchscript if the "
                           "export comes from a source you trust")
    run = RunConfig.from_dict(sidecar["run"], source=f"{folder / SIDECAR} (run)")
    return network_from_weights(run, _inside(folder, weights, "weights"), device), spec


def _load_torchscript(path: Path, device: str):
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is marked deprecated
            network = torch.jit.load(str(path), map_location=device)
    except (RuntimeError, OSError, ValueError) as exc:
        raise NucflowError(f"{path}: cannot load TorchScript ({type(exc).__name__}: {exc})") from None
    return network.eval()


def load_model(path: str | Path, device: str = "cpu", *, trust_torchscript: bool = False, **input_overrides):
    """(network, ModelSpec) from an export folder, a run folder, or a file inside either.

    ``input_overrides`` (tile, normalisation, percentiles) fill in what a run folder cannot tell on
    its own; an export records them, so giving one with an export is an error. ``trust_torchscript``:
    see :func:`load_export`.
    """
    from nucflow.inference.predict import load_run

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if (folder / SIDECAR).is_file():
        given = sorted(k for k, v in input_overrides.items() if v is not None)
        if given:
            raise NucflowError(f"--{given[0]}: an export records its input; the option is for run folders")
        return load_export(folder, device, trust_torchscript=trust_torchscript)
    if (folder / "run.json").is_file():
        network, run = load_run(folder, device)
        return network, spec_from_run(folder, run, **input_overrides)
    if not path.exists():
        raise NucflowError(f"--model {path}: not found")
    raise NucflowError(f"--model {path}: neither a run folder (run.json + model.pt) nor an export "
                       f"({SIDECAR} + {WEIGHTS})")


def parse_percentiles(text: str | None) -> tuple[float, float] | None:
    """``"1,99.8"`` -> ``(1.0, 99.8)``; None stays None; anything else is a one-line error."""
    if text is None:
        return None
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise NucflowError(f"--percentiles {text!r}: expected low,high, e.g. 1,99.8") from None
    return low, high
