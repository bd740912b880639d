"""Labels from the nuclear stain made by a trained model (``--labels-from model:RUN``), and the
labeller named by a ``--labels-from`` value.

The labellers' common part (label sources, the classical labeller, the checks of a stain image)
is :mod:`nucflow.labels.stain_labels`; the model labeller lives here because it predicts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nucflow.labels.stain_labels import (DEFAULT_DIAMETER_UM, ClassicalLabeller, LabelSource, StainLabeller,
                                       as_label_dtype)
from nucflow.errors import NucflowError


class ModelLabeller(StainLabeller):
    """A trained fluorescence model (run folder or export) and its post-processing.

    Runs in fp32 on ``device`` (CPU by default), so the labels do not depend on the machine's
    bf16 support. An image whose pixel size differs from the model's training pixel size by more
    than 5 % is predicted rescaled to it, as ``nucflow predict`` does.
    """

    def __init__(self, model_path: str | Path, device: str = "cpu"):
        # torch only when a model labels: `nucflow import` and `nucflow label` stay light otherwise
        from nucflow.inference.model_spec import load_model
        from nucflow.inference.predict import InferenceSettings

        self.model_path = Path(model_path)
        self.network, self.spec = load_model(self.model_path, device)
        if self.spec.modality != "fluorescence":
            raise NucflowError(f"--labels-from model:{model_path}: run {self.spec.run_id} is a "
                               f"{self.spec.modality} model; labels from the stain need a fluorescence model")
        self.settings = InferenceSettings(device=device)
        super().__init__(LabelSource("model", run_id=self.spec.run_id))

    def label(self, image, pixel_size_um, name):
        from nucflow.data.manifest import scale_factor
        from nucflow.inference.predict import predict_field_rescaled
        from nucflow.postprocess import postprocess

        factor = scale_factor(pixel_size_um, self.spec.pixel_size_um)
        prob = predict_field_rescaled(self.network, self.spec, image, self.settings, factor, tile=self.spec.tile,
                                      normalisation=self.spec.normalisation, percentiles=self.spec.percentiles,
                                      name=name)
        method = self.spec.method
        source = prob if method == "three_class" else (prob[0] if len(prob) == 1 else 1.0 - prob[0])
        return as_label_dtype(postprocess(method, source.astype(np.float64), **self.spec.params))

    def describe(self) -> dict:
        return {"label_source": self.source.text, "method": "model", "model": str(self.model_path),
                "run_id": self.spec.run_id, "postprocess": self.spec.method, "params": dict(self.spec.params),
                "precision": self.settings.precision}


def make_labeller(spec: str, diameter_um: float = DEFAULT_DIAMETER_UM, device: str = "cpu") -> StainLabeller:
    """The labeller named by ``--labels-from``: ``classical`` or ``model:RUN`` (a run or export folder)."""
    text = str(spec).strip()
    if text == "classical":
        return ClassicalLabeller(diameter_um)
    if text.startswith("model:") and text[len("model:"):].strip():
        return ModelLabeller(text[len("model:"):].strip(), device)
    raise NucflowError(f"--labels-from {spec!r}: expected classical or model:RUN (a trained fluorescence run "
                       "folder, e.g. model:results/runs/RUN)")
