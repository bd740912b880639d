"""A bioimage.io model description (format 0.5) for an exported model.

Written beside the TorchScript weights by ``nucflow export``: ``bioimageio.yaml``, a README and a
pair of test tensors. bioimage.io preprocessing can express percentile normalisation
(``scale_range``) but not NuSeT's two-pass foreground normalisation, so those models get none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nucflow.inference.model_spec import SIDECAR, WEIGHTS, ModelSpec
from nucflow.io import file_sha256

BIOIMAGEIO = "bioimageio.yaml"
PAPER = ("Ali MAS, Misko O, Salumaa SO, et al. Evaluating very deep convolutional neural networks for "
         "nucleus segmentation from brightfield cell microscopy images. SLAS Discovery 26(9), 2021.")
PAPER_DOI = "10.1177/24725552211023214"


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
            "test_tensor": {"source": "test_input.npy", "sha256": file_sha256(out / "test_input.npy")},
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
            "test_tensor": {"source": "test_output.npy", "sha256": file_sha256(out / "test_output.npy")},
            "data": {"range": [0.0, 1.0]},
            "postprocessing": [{"id": "sigmoid"} if spec.out_channels == 1
                               else {"id": "softmax", "kwargs": {"axis": "channel"}}],
        }],
        "weights": {"torchscript": {"source": WEIGHTS, "sha256": file_sha256(out / WEIGHTS),
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
