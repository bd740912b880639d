"""``nucflow export``: a trained run as a self-contained model folder: weights, a TorchScript copy
for other tools, and a JSON sidecar.

An export holds the model's :class:`~nucflow.inference.model_spec.ModelSpec` in one file, so a
model can be shipped and applied without the training tiles or the training code.

Export folder::

    model.pt                the network's state_dict (what nucflow loads, weights-only, into the
                            registry's architecture named by the recorded run.json)
    model.ts                the same network as TorchScript, CPU, eval mode, for other tools;
                            (N, C, tile, tile) float32 normalised -> logits
    nucflow_model.json      the ModelSpec, post-processing, versions, run.json (provenance)
    bioimageio.yaml         bioimage.io model description (percentile-normalised models), with
    README.md, test_input.npy, test_output.npy   its documentation and test tensors

The network is traced at the tile size; prediction always feeds it whole tiles (smaller images are
padded), so the traced shapes are the only ones it meets.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

from nucflow import __version__
from nucflow.inference.bioimageio import write_bioimageio
from nucflow.inference.model_spec import SIDECAR, TORCHSCRIPT, WEIGHTS, ModelSpec, spec_from_run
from nucflow.io import atomic_file, ensure_dir, file_sha256, write_json

#: 2: weights as a state_dict (model.pt) beside the TorchScript copy; 1 held TorchScript only
SIDECAR_FORMAT = 2


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
    weights, script = out / WEIGHTS, out / TORCHSCRIPT
    with atomic_file(weights) as tmp, open(tmp, "wb") as stream:  # a file object: no temporary name inside
        torch.save({k: v.contiguous() for k, v in network.state_dict().items()}, stream)
    with atomic_file(script) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # see trace()
        torch.jit.save(trace(network, spec), str(tmp))
    sidecar = {
        "format": "nucflow-model", "format_version": SIDECAR_FORMAT, **spec.to_dict(),
        "threshold": spec.threshold, "weights": WEIGHTS, "weights_sha256": file_sha256(weights),
        "torchscript": TORCHSCRIPT, "torchscript_sha256": file_sha256(script),
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
