"""``nucflow predict``: a trained model applied to manifest images (study mode) or image files (user mode).

Study mode (what the workflow's predict rule calls), chosen by ``--manifest``::

    nucflow predict --model results/runs/RUN --manifest M --splits S --eval-set seven_lines:test --out DIR

writes ``DIR/<image_id>_prob.tif`` (float32, (H, W) for 2-class models, (3, H, W) for 3-class),
``DIR/ids.txt`` (the images, one per line) and ``DIR/predict.json`` (settings used). Outputs are written atomically.

User mode, chosen by image arguments (files, folders, globs), with a run folder or an export::

    nucflow predict --model RUN_OR_EXPORT --out DIR [--tta] [--device D] IMAGES...

writes per image ``<stem>_prob.tif``, ``<stem>_labels.tif``, ``<stem>_objects.csv``,
``<stem>_objects.geojson``, and ``summary.csv`` and ``predict.json`` (see
:mod:`nucflow.inference.files`). An OME-Zarr (NGFF) image, well or plate among the inputs also gets
its labels written into each image's ``labels/`` group (``--no-ngff-labels`` turns that off). Exit status 1 when an
image failed (each is reported in one line), 2 for a problem with the command itself.
"""

from __future__ import annotations

import argparse
import time

from nucflow.errors import NucflowError
from nucflow.inference.model_spec import parse_percentiles
from nucflow.inference.predict import InferenceSettings, pick_device
from nucflow.inference.window import check_window
from nucflow.io import ensure_dir, read_json, write_json
from nucflow.precision import resolve
from nucflow.study.layout import PlaneSet


def parse_eval_set(text: str) -> tuple[str, str, list[str] | None, list[str] | None]:
    """``dataset:split[:Line1+Line2 | :exLine1+Line2]`` -> (dataset, split, lines, excluded lines)."""
    from nucflow.study.layout import EvalSet

    eval_set = EvalSet.parse(text)
    return (eval_set.dataset, eval_set.split, list(eval_set.lines) or None, list(eval_set.exclude_lines) or None)


def eval_set_ids(splits: dict, frame, text: str) -> list[str]:
    """Image ids of the evaluation set ``text`` (``dataset[:fK]:split[:...]``) in ``splits``."""
    from nucflow.study.layout import EvalSet

    return EvalSet.parse(text).image_ids(splits, frame)


def add_arguments(parser) -> None:
    from nucflow.data.normalise import METHODS as NORMALISATIONS
    from nucflow.postprocess import POSTPROCESSORS

    model = parser.add_argument_group("model")
    model.add_argument("--model", required=True,
                       help="run folder (run.json + model.pt), or an export folder (nucflow export) in user mode")
    study = parser.add_argument_group("study mode: manifest images (the workflow)")
    study.add_argument("--manifest", help="manifest.csv; chooses study mode")
    study.add_argument("--splits", help="splits.json")
    study.add_argument("--eval-set", help="dataset[:fK]:split[:Line1+Line2|:exLine], e.g. seven_lines:test, seven_lines:test:exHepG2 or (fold 1) seven_lines:f1:test")
    user = parser.add_argument_group("user mode: your own image files")
    user.add_argument("images", nargs="*", metavar="IMAGE",
                      help="TIFF / OME-TIFF / PNG files, folders of them, globs ('data/*.tif'), or OME-Zarr "
                           "(NGFF) images, wells or plates (PLATE.zarr/B/3/0, PLATE.zarr)")
    user.add_argument("--planes", help="comma-separated planes of your stacks that feed the model, in order "
                                       "(default: the planes it was trained on)")
    user.add_argument("--method", help="post-processing method (default: the model's, 'published' or 'three_class'); "
                                       f"one of {', '.join(p for p, m in POSTPROCESSORS.items() if m.reads != 'scales')}")
    user.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                      help="override one post-processing parameter, e.g. threshold=0.4 (repeatable)")
    user.add_argument("--pixel-size-um", type=float,
                      help="pixel size of your images; overrides what a file states (OME, ImageJ), with a note; object "
                           "sizes in µm instead of px; images more than 5%% off the model's training pixel size "
                           "are rescaled to it")
    user.add_argument("--overwrite", action="store_true",
                      help="redo images whose outputs exist, and allow another model's outputs in --out "
                           "(default: skip images done from the same input, model and settings)")
    user.add_argument("--fail-fast", action="store_true", help="stop at the first bad image")
    user.add_argument("--geojson-type", choices=("detection", "annotation"), default="detection",
                      help="QuPath object type of the outlines in <stem>_objects.geojson (default detection)")
    zarr = parser.add_argument_group("OME-Zarr (NGFF) inputs")
    zarr.add_argument("--channel", metavar="NAME",
                      help="the channel that feeds the model, by its omero name or 0-based index (needed when an "
                           "image has several; the index where two share a name); a fluorescence model gets its "
                           "maximum over z, a brightfield model its z planes")
    zarr.add_argument("--ngff-labels-name", default="nucflow", metavar="NAME",
                      help="name of the labels entry written into each image's labels/ group (default nucflow)")
    zarr.add_argument("--no-ngff-labels", action="store_true",
                      help="do not write labels into the NGFF images (the TIFF outputs are written either way)")
    recorded = parser.add_argument_group("training input, for a run folder whose training tiles are not here")
    recorded.add_argument("--tile", type=int, help="training tile size (px)")
    recorded.add_argument("--normalisation", choices=NORMALISATIONS, help="training normalisation")
    recorded.add_argument("--percentiles", help="low,high, e.g. 1,99.8")
    out = parser.add_argument_group("output")
    out.add_argument("--out", required=True, help="output folder")
    how = parser.add_argument_group("inference")
    how.add_argument("--overlap", type=float, help="tile overlap fraction (default: the config schema's inference.overlap)")
    how.add_argument("--batch-size", type=int, help="tiles per forward pass (default: inference.batch_size)")
    how.add_argument("--trust-torchscript", action="store_true",
                     help="run an export's TorchScript copy (model.ts) instead of rebuilding the network from its "
                          "weights; a TorchScript graph can read and write files, so only for exports from a source "
                          "you trust (and exports of earlier versions, which hold nothing else)")
    how.add_argument("--window", type=int,
                     help="sliding-window size in px (default: the training tile size); the networks are fully "
                          "convolutional, so a larger window means fewer, larger forward passes")
    how.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's own choice)")
    how.add_argument("--tta", action="store_true", help="average over the 8 flips/rotations (D4)")
    how.add_argument("--device", help="cpu, cuda, cuda:1 … (default: CUDA if available)")
    how.add_argument("--precision", choices=("auto", "32-true", "bf16-mixed"), default="auto",
                     help="auto (default): bf16 autocast + channels-last where the device computes bf16 natively "
                          "(AMX/AVX512-BF16 CPU, bf16 CUDA GPU), fp32 elsewhere; probability maps stay float32")
    how.add_argument("--bf16", action="store_true", help="same as --precision bf16-mixed")
    how.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                     help="channels-last memory format (default: on with bf16)")
    how.add_argument("--scales", type=float, nargs="+",
                     help="study mode: also predict at these input scales (e.g. 0.75 1 1.25) and write "
                          "<image_id>_prob_scales.tif (S, H, W) for the multi-scale merge")


def run(args) -> int:
    if args.manifest and args.images:
        raise NucflowError("give either --manifest (study mode) or image files (user mode), not both")
    if args.manifest:
        missing = [option for option, value in (("--splits", args.splits), ("--eval-set", args.eval_set)) if not value]
        if missing:
            raise NucflowError(f"study mode (--manifest) needs {' and '.join(missing)}")
        return run_study(args)
    if args.images:
        return run_files(args)
    raise NucflowError("nothing to predict: give image files, folders or globs, "
                       "or --manifest with --splits and --eval-set")


#: option -> (config section, key) whose schema default it takes when not given
SCHEMA_OPTIONS = {"overlap": ("inference", "overlap"), "batch_size": ("inference", "batch_size")}


def settings_from(args) -> InferenceSettings:
    import torch

    from nucflow.config import fill_option_defaults

    fill_option_defaults(args, SCHEMA_OPTIONS)

    if not 0 <= args.overlap < 1:
        raise NucflowError(f"--overlap {args.overlap}: must lie in [0, 1)")
    if args.batch_size < 1:
        raise NucflowError(f"--batch-size {args.batch_size}: must be >= 1")
    if args.window is not None and args.window < 16:
        raise NucflowError(f"--window {args.window}: must be >= 16 px")
    if args.threads is not None:
        if args.threads < 1:
            raise NucflowError(f"--threads {args.threads}: must be >= 1")
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    chosen = resolve("bf16-mixed" if args.bf16 else args.precision, args.channels_last, device, key="--precision")
    return InferenceSettings(overlap=args.overlap, batch_size=args.batch_size, tta=args.tta, device=device,
                             autocast_dtype=torch.bfloat16 if chosen.autocast_bf16 else None,
                             channels_last=chosen.channels_last, precision=chosen.name)


def parse_planes(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    return PlaneSet.parse_option(text).planes


def run_files(args) -> int:
    """User mode: segment image files (see :mod:`nucflow.inference.files`)."""
    from nucflow.inference.model_spec import load_model
    from nucflow.inference.files import PLAUSIBLE_PIXEL_UM, FilesRun, check_method, predict_files
    from nucflow.inference.provenance import check_same_model, claim_folder, model_identity
    from nucflow.postprocess import parse_param_strings

    settings = settings_from(args)
    network, spec = load_model(args.model, settings.device, tile=args.tile, normalisation=args.normalisation,
                               percentiles=parse_percentiles(args.percentiles),
                               trust_torchscript=args.trust_torchscript)
    if args.window is not None:
        import torch

        if isinstance(network, torch.jit.ScriptModule):
            raise NucflowError(f"--window: {args.model} is a TorchScript export, traced at its {spec.tile} px "
                               "tile; leave --window out")
        check_window(spec.model, args.window, spec.tile)
        spec = spec.replace(tile=args.window)
    planes = parse_planes(args.planes)
    if planes is not None:
        if spec.modality == "fluorescence" or len(planes) != spec.in_channels:
            raise NucflowError(f"--planes {args.planes}: model {spec.run_id} takes {spec.in_channels} "
                               f"{spec.modality} channel(s)")
        spec = spec.replace(planes=planes)
    method = args.method or spec.method
    check_method(method, spec.out_channels)
    params = dict(spec.params) if method == spec.method else {}
    params.update(parse_param_strings(method, args.param))
    low, high = PLAUSIBLE_PIXEL_UM
    if args.pixel_size_um is not None and not low <= args.pixel_size_um <= high:
        raise NucflowError(f"--pixel-size-um {args.pixel_size_um}: must lie between {low:g} and {high:g} µm "
                           "(is it in nm?)")
    identity = model_identity(args.model, spec.run_id)
    from nucflow.data.importers.common import check_name

    ngff_labels = None if args.no_ngff_labels else check_name(args.ngff_labels_name, "--ngff-labels-name")
    files_run = FilesRun(settings=settings, method=method, params=params, pixel_size_um=args.pixel_size_um,
                         overwrite=args.overwrite, fail_fast=args.fail_fast, model=identity, channel=args.channel,
                         ngff_labels=ngff_labels, geojson_type=args.geojson_type)

    out = ensure_dir(args.out)
    start = time.perf_counter()
    settings_used = {"model": str(args.model), "model_identity": identity, "spec": spec.to_dict(), "method": method,
                     "params": params, "device": settings.device, "overlap": settings.overlap, "tta": settings.tta,
                     "precision": settings.precision, "channels_last": settings.channels_last,
                     "pixel_size_um": args.pixel_size_um, "window": spec.tile, "channel": args.channel,
                     "ngff_labels": ngff_labels, "geojson_type": args.geojson_type}
    # The folder is claimed before any image: a second run into it waits for no one and is refused,
    # and predict.json names this model from the start, so a run killed midway followed by another
    # model's run cannot mix the two models' outputs.
    with claim_folder(out):
        check_same_model(out, identity, args.overwrite)
        write_json(out / "predict.json", settings_used)
        summary = predict_files(network, spec, args.images, out, files_run)
        write_json(out / "predict.json", settings_used)
    counts = summary["status"].value_counts()
    print(f"{out}: {counts.get('ok', 0)} segmented, {counts.get('skipped', 0)} skipped, "
          f"{counts.get('error', 0)} failed in {time.perf_counter() - start:.1f} s (summary.csv)")
    return 1 if counts.get("error", 0) else 0


def run_study(args) -> int:
    """Study mode: probability maps of manifest images (the workflow's predict rule)."""
    from nucflow.data.manifest import load_manifest
    from nucflow.inference.eval_set import predict_eval_set

    settings = settings_from(args)
    manifest = load_manifest(args.manifest, check_files=False)
    ids = eval_set_ids(read_json(args.splits), manifest.frame, args.eval_set)
    done = predict_eval_set(args.model, manifest, ids, args.out, settings, window=args.window, scales=args.scales)
    trained = {key: value for key, value in done.items() if key not in ("images", "window", "seconds")}
    write_json(ensure_dir(args.out) / "predict.json",
               {"run": str(args.model), "eval_set": args.eval_set, "images": done["images"],
                "device": settings.device, "precision": settings.precision,
                "channels_last": settings.channels_last, "overlap": args.overlap,
                "tta": args.tta, "scales": args.scales, "window": done["window"],
                "seconds": done["seconds"], **trained})
    print(f"{args.out}: {done['images']} probability maps in {done['seconds']:.1f} s")
    return 0
