"""Ground truth made from the nuclear stain, and where a data set's labels came from.

A data set with a nuclear-stain channel but no masks gets its labels the way the study made them:

* ``classical``: the tuned classical pipeline of the simulator
  (:func:`nucflow.labels.classical.classical_labels`: smoothing, Otsu, hole filling, size filter,
  distance-transform watershed) with its parameters derived from the pixel size and an expected
  nucleus diameter in µm;
* ``model:RUN``: a trained *fluorescence* model of this study (a run folder with ``run.json`` and
  ``model.pt``, or a ``nucflow export`` folder) predicts the stain image, and its own
  post-processing turns the probabilities into instance labels
  (:class:`nucflow.inference.stain_model.ModelLabeller`: prediction is the inference layer's, so
  this module does not import it; ``make_labeller`` there builds either labeller from a
  ``--labels-from`` value).

The manifest column ``label_source`` records the origin of each row's ``labels``
(:data:`SOURCE_FORMS`): ``given`` (masks that came with the data; an empty cell and a manifest
without the column mean the same), ``manual`` (drawn by hand), ``classical(d=12.0um)`` (the
classical pipeline tuned for 12 µm nuclei) or ``model:<run id>``.

A field with nothing to label is not an error: an empty (flat) stain, a saturated one (at least
:data:`SATURATED_SHARE` of its pixels at its maximum, forming a plateau rather than clipped
nuclei), one whose brightest class does not stand :data:`MIN_CONTRAST_SD` noise standard
deviations above the rest, and one in which the method finds no nucleus are left out of the data
set, with a one-line warning naming the field (``<field>: warning: ...``, on stderr and in the
labeller's ``warnings``) and the reason in the import's ``left_out.csv``. Kept with an empty
label image, such a field would train as "no nuclei here".
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import numpy as np

from nucflow.errors import NucflowError

#: the forms a ``label_source`` value may take, for messages
SOURCE_FORMS = "given, manual, classical(d=<diameter>um) or model:<run id>"
#: what ``--nucleus-diameter-um`` defaults to: a typical mammalian nucleus
DEFAULT_DIAMETER_UM = 12.0
#: a stain with at least this share of its pixels at its maximum is saturated, and is not labelled
#: when those pixels form a plateau (:func:`saturated_plateau`), not clipped nuclei
SATURATED_SHARE = 0.5
#: clipped and unclipped pixels forming at most this many connected regions are a plateau
PLATEAU_REGIONS = 3
#: the stain's two Otsu classes must differ by this many noise standard deviations (as the classical
#: pipeline requires), or the field has no stained nuclei to label
MIN_CONTRAST_SD = 5.0
#: smoothing (µm) before the contrast test, as the classical pipeline smooths
SMOOTH_UM = 0.6
_CLASSICAL = re.compile(r"^classical\(d=(?P<d>[0-9]*\.?[0-9]+)um\)$")


def _diameter_text(diameter_um: float) -> str:
    """``12.0`` -> ``12.0``, ``8.25`` -> ``8.25`` (always a decimal point, never an exponent)."""
    text = f"{float(diameter_um):.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


@dataclass(frozen=True)
class LabelSource:
    """Where one image's labels came from.

    Attributes:
        kind: ``given``, ``manual``, ``classical`` or ``model``.
        diameter_um: expected nucleus diameter (µm) of ``classical``.
        run_id: the model's run id of ``model``.
    """

    kind: str
    diameter_um: float | None = None
    run_id: str | None = None

    @property
    def text(self) -> str:
        """The manifest value: ``given``, ``manual``, ``classical(d=12.0um)`` or ``model:<run id>``."""
        if self.kind == "classical":
            return f"classical(d={_diameter_text(self.diameter_um)}um)"
        if self.kind == "model":
            return f"model:{self.run_id}"
        return self.kind


GIVEN = LabelSource("given")


def parse_label_source(value) -> LabelSource:
    """The :class:`LabelSource` of a manifest cell; empty (None, NaN, '') is :data:`GIVEN`.

    Raises NucflowError (without a location: the caller names the row) for any other form.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return GIVEN
    text = str(value).strip()
    if text in ("given", "manual"):
        return LabelSource(text)
    match = _CLASSICAL.match(text)
    if match and float(match.group("d")) > 0:
        return LabelSource("classical", diameter_um=float(match.group("d")))
    if text.startswith("model:") and text[len("model:"):].strip():
        return LabelSource("model", run_id=text[len("model:"):].strip())
    raise NucflowError(f"{text!r} is not a label source; expected {SOURCE_FORMS}")


def check_diameter(diameter_um: float) -> float:
    value = float(diameter_um)
    if not np.isfinite(value) or not 1.0 <= value <= 200.0:
        raise NucflowError(f"--nucleus-diameter-um: {diameter_um} is not a nucleus diameter in µm (1 to 200)")
    return value


def saturated_plateau(clipped: np.ndarray) -> bool:
    """Whether the clipped pixels of a stain form a plateau (an over-exposed or flooded field) rather
    than nuclei: clipped nuclei of a crowded field split the field into many regions, clipped and
    not, while a plateau leaves at most :data:`PLATEAU_REGIONS` of them."""
    from skimage.measure import label as label_regions

    regions = int(label_regions(clipped, connectivity=2).max()) + int(label_regions(~clipped, connectivity=1).max())
    return regions <= PLATEAU_REGIONS


def stain_problem(image: np.ndarray, pixel_size_um: float) -> str:
    """Why the (H, W) stain ``image`` has no nuclei to label, or ``""`` when it may have some.

    ``empty``/``flat``: every pixel has one value; ``saturated``: at least :data:`SATURATED_SHARE`
    of the pixels are at the image's maximum and form a plateau (a crowded field whose nuclei are
    clipped is labelled as usual); ``no stain above the noise``: after smoothing
    (:data:`SMOOTH_UM`), the means of the two Otsu classes differ by less than
    :data:`MIN_CONTRAST_SD` noise standard deviations (robust estimate from the residual).
    """
    from scipy import ndimage as ndi
    from skimage.filters import threshold_otsu

    values = np.asarray(image)
    low, high = values.min(), values.max()
    if low == high:
        if high == 0:
            return "empty: every pixel of the nuclear stain is 0"
        if np.issubdtype(values.dtype, np.integer) and high == np.iinfo(values.dtype).max:
            return f"saturated: every pixel of the nuclear stain is {high}"
        return f"flat: every pixel of the nuclear stain is {high:g}"
    share = float(np.mean(values == high))
    if share >= SATURATED_SHARE and saturated_plateau(values == high):
        return (f"saturated: {100 * share:.0f} % of the nuclear stain's pixels are at its maximum, {high:g}, in "
                "a plateau rather than nuclei")
    pixels = values.astype(np.float32)
    smooth = ndi.gaussian_filter(pixels, SMOOTH_UM / float(pixel_size_um))
    residual = pixels - smooth
    noise_sd = 1.4826 * float(np.median(np.abs(residual - np.median(residual)))) + 1e-6
    contrast = 0.0
    if smooth.max() > smooth.min():
        above = smooth > threshold_otsu(smooth)
        if above.any() and not above.all():
            contrast = float(smooth[above].mean() - smooth[~above].mean()) / noise_sd
    if contrast < MIN_CONTRAST_SD:
        return (f"no stain above the noise: the stain's bright and dark classes differ by {contrast:.1f} noise "
                f"standard deviations (at least {MIN_CONTRAST_SD:g} needed)")
    return ""


class StainLabeller:
    """Instance labels from a nuclear-stain image: ``labeller(fluorescence, pixel_size_um, name)``.

    ``fluorescence`` is (H, W) in any numeric dtype; the result is (H, W) uint16 (uint32 above
    65 535 nuclei), 0 = background, ids 1..N. ``source`` is what the manifest records.

    A stain with no nuclei to label (:func:`stain_problem`), or one in which the method finds none,
    gives ``None`` -- the field is left out, never kept with empty truth that would train as "no
    nuclei" -- and a one-line warning naming ``name``; the reason is kept in ``left_out[name]``, the
    warnings are printed to stderr and kept in ``warnings`` (in order). Subclasses implement
    :meth:`label`.
    """

    source: LabelSource

    def __init__(self, source: LabelSource):
        self.source = source
        self.warnings: list[str] = []
        self.left_out: dict[str, str] = {}  # name -> why it has no labels

    def __call__(self, fluorescence: np.ndarray, pixel_size_um: float, name: str = "image") -> np.ndarray | None:
        image = _stain_plane(fluorescence, name)
        if not np.isfinite(image).all():
            raise NucflowError(f"{name}: the nuclear stain contains NaN or inf")
        problem = stain_problem(image, pixel_size_um)
        if not problem:
            labels = self.label(image, pixel_size_um, name)
            if labels.any():
                return labels
            problem = f"{self.source.text} found no nuclei in the nuclear stain"
        self.left_out[name] = problem
        self._warn(f"{name}: warning: {problem}; the field is left out (no labels from its stain)")
        return None

    def label(self, image: np.ndarray, pixel_size_um: float, name: str) -> np.ndarray:
        """Instance labels of a checked (H, W) stain image (see the class docstring)."""
        raise NotImplementedError

    def _warn(self, line: str) -> None:
        self.warnings.append(line)
        print(line, file=sys.stderr)

    def describe(self) -> dict:
        """JSON-ready description for ``import.json`` / ``label.json``."""
        return {"label_source": self.source.text}


def as_label_dtype(labels: np.ndarray) -> np.ndarray:
    top = int(labels.max(initial=0))
    return labels.astype(np.uint16 if top <= np.iinfo(np.uint16).max else np.uint32)


class ClassicalLabeller(StainLabeller):
    """The simulator's classical pipeline tuned for nuclei of ``diameter_um``."""

    def __init__(self, diameter_um: float = DEFAULT_DIAMETER_UM):
        super().__init__(LabelSource("classical", diameter_um=check_diameter(diameter_um)))

    def label(self, image, pixel_size_um, name):
        from nucflow.labels.classical import classical_labels

        return as_label_dtype(classical_labels(image, float(pixel_size_um), self.source.diameter_um))

    def describe(self) -> dict:
        return {"label_source": self.source.text, "method": "classical", "nucleus_diameter_um": self.source.diameter_um}


def _stain_plane(fluorescence: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(fluorescence)
    while image.ndim > 2 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 2:
        raise NucflowError(f"{name}: labels from the stain need a 2-D (H, W) nuclear-stain image, got shape "
                           f"{image.shape}")
    return image
