"""Figure 06: error examples -- one crop per error type in the paper's convention (Ali et al. 2021,
Fig. 5): ground-truth contours cyan, predicted contours white, the probability map in red over the
input image, and a yellow arrow (or dashed outline) on the error.

The crops are chosen automatically from one run, the model-comparison run with the best mean pixel
F1 on brightfield (fluorescence when no brightfield run has predictions), among its first
:data:`MAX_IMAGES` test images:

* merge: the predicted nucleus overlapping most true nuclei (IoU >= 0.1 each);
* split: the true nucleus overlapping most predicted nuclei (IoU >= 0.1 each);
* missed in a dense region: a true nucleus without a prediction at IoU >= 0.6 (preferably none at
  IoU >= 0.1) with the most true nuclei within 3 median radii;
* artifact: the annotated artifact region (manifest ``artifacts``) holding most misclassified
  pixels;
* label noise: the largest region where the labels disagree with the exact truth (manifest
  ``labels_true``, simulated data) and the prediction agrees with the exact truth.

A type without an example leaves its panel with a note. Inputs: the model-comparison per-image
table (run choice), the manifest (``resources/simulated/manifest.csv`` or ``data.manifest`` of
``config/study.json``), ``runs/<run>/prob/<eval_set>/<id>_prob.tif`` and
``runs/<run>/instances/<eval_set>/<method>/<id>_labels.tif``. This is the only figure that reads
images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from scipy import ndimage
from skimage.measure import regionprops_table
from skimage.segmentation import find_boundaries

from nucflow.evaluation.overlap import compute_overlap
from nucflow.figures.panels import note_empty
from nucflow.figures.style import figure_style, model_name, new_figure, save
from nucflow.io import read_image, read_json
from nucflow.results.inputs import PER_IMAGE, RUNS, SIMULATED_MANIFEST, STUDY_CONFIG, present, read_arm_table

INPUTS = (PER_IMAGE,)
OPTIONAL = (f"{RUNS}/*/prob/*/*_prob.tif", f"{RUNS}/*/instances/*/*/*_labels.tif")
KINDS = ("merge", "split", "missed", "artifact", "label_noise")
TITLES = {"merge": "merge", "split": "split", "missed": "missed, dense region", "artifact": "imaging artifact",
          "label_noise": "label noise"}
MAX_IMAGES = 40
CROP_UM = 45.0
MIN_CROP_PX = 48
LINK_IOU, MISSED_IOU = 0.1, 0.6
MIN_REGION_PX = 20
SCALE_BAR_UM = 10.0
GT_COLOUR, PRED_COLOUR, MARK_COLOUR = (0.0, 1.0, 1.0), (1.0, 1.0, 1.0), "#FFD700"


@dataclass(frozen=True, eq=False)
class Example:
    """One error to show: where it is (row, col in px), its bounding box (r0, c0, r1, c1), how
    clear it is (``score``, larger is better), a one-line description and, for region errors, the
    (H, W) bool mask of the region."""

    kind: str
    image_id: str
    centre: tuple[float, float]
    bbox: tuple[int, int, int, int]
    score: float
    detail: str
    region: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ChosenRun:
    run_id: str
    eval_set: str
    method: str
    model: str
    modality: str
    planes: str
    mean_f1: float
    image_ids: tuple[str, ...]


def manifest_path(results: Path) -> Path:
    """The study's manifest: ``data.manifest`` of ``config/study.json`` for user data, else the
    simulated data set's manifest beside the results folder."""
    results = Path(results)
    config = results / STUDY_CONFIG
    data = read_json(config).get("data", {}) if config.is_file() else {}
    if data.get("source", "simulated") != "simulated" and data.get("manifest"):
        path = Path(data["manifest"])
        return path if path.is_absolute() else results.parent / path
    return results.parent / SIMULATED_MANIFEST


def truth_column(results: Path) -> str:
    config = Path(results) / STUDY_CONFIG
    return read_json(config).get("evaluation", {}).get("truth", "labels") if config.is_file() else "labels"


def choose_run(results: Path) -> ChosenRun | None:
    """The best run (mean pixel F1) of the preferred modality whose predictions exist."""
    table = read_arm_table(results, PER_IMAGE, ("run_id", "image_id", "eval_set", "modality"), ("f1",))
    for column, default in (("method", "published"), ("planes", "")):
        if column not in table.columns:
            table[column] = default
    modalities = ["brightfield", "fluorescence"] + sorted(set(table["modality"]) - {"brightfield", "fluorescence"})
    for modality in modalities:
        part = table[table["modality"] == modality]
        runs = part.groupby(["run_id", "eval_set", "method", "model", "planes"], sort=True)["f1"].mean().reset_index()
        runs = runs.sort_values(["f1", "run_id", "eval_set", "method"], ascending=[False, True, True, True])
        for run in runs.itertuples():
            prob_dir, inst_dir = prediction_dirs(results, run.run_id, run.eval_set, run.method)
            if prob_dir.is_dir() and inst_dir.is_dir():
                ids = part.loc[(part["run_id"] == run.run_id) & (part["eval_set"] == run.eval_set), "image_id"]
                return ChosenRun(run.run_id, run.eval_set, run.method, run.model, modality, run.planes, float(run.f1),
                                 tuple(sorted(set(ids)))[:MAX_IMAGES])
    return None


def prediction_dirs(results: Path, run_id: str, eval_set: str, method: str) -> tuple[Path, Path]:
    run = Path(results) / RUNS / run_id
    return run / "prob" / eval_set, run / "instances" / eval_set / method


def _objects(labels: np.ndarray) -> pd.DataFrame:
    props = regionprops_table(labels, properties=("label", "centroid", "bbox", "area"))
    return pd.DataFrame(props).set_index("label")


def _bbox(row) -> tuple[int, int, int, int]:
    return int(row["bbox-0"]), int(row["bbox-1"]), int(row["bbox-2"]), int(row["bbox-3"])


def _object_example(kind: str, image_id: str, objects: pd.DataFrame, label: int, score: float, detail: str) -> Example:
    row = objects.loc[label]
    return Example(kind, image_id, (float(row["centroid-0"]), float(row["centroid-1"])), _bbox(row), score, detail)


def object_errors(image_id: str, truth: np.ndarray, pred: np.ndarray, pixel_size_um: float = 1.0) -> list[Example]:
    """The clearest merge, split and missed nucleus of one image (at most one each)."""
    overlap = compute_overlap(truth, pred)
    found = []
    linked = overlap.iou_at_least(LINK_IOU)
    per_pred = np.bincount(overlap.pair_pred[linked], minlength=overlap.n_pred)
    per_true = np.bincount(overlap.pair_true[linked], minlength=overlap.n_true)
    true_objects, pred_objects = _objects(truth), _objects(pred)
    if overlap.n_pred and per_pred.max() > 1:
        k = int(np.argmax(per_pred))
        found.append(_object_example("merge", image_id, pred_objects, int(overlap.pred_ids[k]), float(per_pred[k]),
                                     f"{per_pred[k]} nuclei in 1"))
    if overlap.n_true and per_true.max() > 1:
        k = int(np.argmax(per_true))
        found.append(_object_example("split", image_id, true_objects, int(overlap.true_ids[k]), float(per_true[k]),
                                     f"1 nucleus in {per_true[k]}"))
    near = np.zeros(overlap.n_true, bool)
    near[overlap.pair_true[overlap.iou_at_least(MISSED_IOU)]] = True
    missed = np.flatnonzero(~near)
    if missed.size:
        centres = true_objects.loc[overlap.true_ids, ["centroid-0", "centroid-1"]].to_numpy(float)
        radius = 3.0 * np.sqrt(np.median(overlap.true_area) / np.pi)
        distance = np.hypot(*(centres[missed, None, :] - centres[None, :, :]).transpose(2, 0, 1))
        neighbours = (distance <= radius).sum(axis=1) - 1
        untouched = per_true[missed] == 0
        score = neighbours + 1000.0 * untouched
        k = int(np.argmax(score))
        label = int(overlap.true_ids[missed[k]])
        found.append(_object_example("missed", image_id, true_objects, label, float(score[k]),
                                     f"{neighbours[k]} nuclei within {radius * pixel_size_um:.0f} µm"))
    return found


def _region_example(kind: str, image_id: str, mask: np.ndarray, weights: np.ndarray, detail) -> Example | None:
    """The connected component of ``mask`` with the largest sum of ``weights`` (>= MIN_REGION_PX)."""
    components, n = ndimage.label(mask)
    if n == 0:
        return None
    sums = ndimage.sum_labels(weights, components, index=np.arange(1, n + 1))
    areas = ndimage.sum_labels(np.ones_like(weights), components, index=np.arange(1, n + 1))
    sums = np.where(areas >= MIN_REGION_PX, sums, 0)
    k = int(np.argmax(sums))
    if sums[k] <= 0:
        return None
    region = components == k + 1
    rows, cols = np.nonzero(region)
    return Example(kind, image_id, (float(rows.mean()), float(cols.mean())),
                   (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1), float(sums[k]),
                   detail(region), region)


def artifact_error(image_id: str, truth: np.ndarray, prob: np.ndarray, artifacts: np.ndarray) -> Example | None:
    errors = ((prob > 0.5) != (truth > 0)).astype(float)
    return _region_example("artifact", image_id, artifacts > 0, errors,
                           lambda region: f"{int(errors[region].sum())} error px inside")


def label_noise_error(image_id: str, labels: np.ndarray, exact: np.ndarray, prob: np.ndarray) -> Example | None:
    disagree = (labels > 0) != (exact > 0)
    model_right = ((prob > 0.5) == (exact > 0)).astype(float)
    def detail(region: np.ndarray) -> str:
        return f"labels ≠ exact truth;\nmodel right on {100 * model_right[region].mean():.0f}% of px"

    return _region_example("label_noise", image_id, disagree, model_right, detail)


def _foreground(prob: np.ndarray) -> np.ndarray:
    """(H, W) foreground probability; 3-class maps (3, H, W) give 1 - background."""
    return 1.0 - prob[0] if prob.ndim == 3 else prob


def _read_optional(folder: Path, row: pd.Series, column: str) -> np.ndarray | None:
    value = row.get(column)
    if value is None or pd.isna(value) or str(value).strip() == "":
        return None
    return read_image(folder / str(value))


def find_examples(results: Path, run: ChosenRun | None = None) -> list[Example]:
    """The best example of each error type over the chosen run's images, in :data:`KINDS` order."""
    results = Path(results)
    run = run or choose_run(results)
    path = manifest_path(results)
    if run is None or not path.is_file():
        return []
    manifest = pd.read_csv(path, dtype={"image_id": str}).set_index("image_id", drop=False)
    prob_dir, inst_dir = prediction_dirs(results, run.run_id, run.eval_set, run.method)
    truth_col = truth_column(results)
    best: dict[str, Example] = {}
    for image_id in run.image_ids:
        if image_id not in manifest.index or not (inst_dir / f"{image_id}_labels.tif").is_file():
            continue
        row = manifest.loc[image_id]
        truth = read_image(path.parent / row[truth_col])
        pred = read_image(inst_dir / f"{image_id}_labels.tif")
        prob = _foreground(read_image(prob_dir / f"{image_id}_prob.tif"))
        found = object_errors(image_id, truth, pred, float(row.get("pixel_size_um", 1.0)))
        artifacts = _read_optional(path.parent, row, "artifacts")
        if artifacts is not None:
            found.append(artifact_error(image_id, truth, prob, artifacts))
        exact = _read_optional(path.parent, row, "labels_true") if truth_col != "labels_true" else None
        if exact is not None:
            found.append(label_noise_error(image_id, truth, exact, prob))
        for example in found:
            if example is not None and (example.kind not in best or example.score > best[example.kind].score):
                best[example.kind] = example
    return [best[k] for k in KINDS if k in best]


def crop_window(example: Example, shape: tuple[int, int], pixel_size_um: float) -> tuple[slice, slice]:
    """A square window around the example: CROP_UM wide, at least the box plus a margin, inside the image."""
    r0, c0, r1, c1 = example.bbox
    side = max(int(round(CROP_UM / pixel_size_um)), MIN_CROP_PX, int(1.4 * max(r1 - r0, c1 - c0)))
    side = min(side, *shape)
    slices = []
    for centre, size in zip(example.centre, shape):
        start = int(np.clip(round(centre - side / 2), 0, size - side))
        slices.append(slice(start, start + side))
    return slices[0], slices[1]


def base_image(manifest_dir: Path, row: pd.Series, modality: str, planes: str) -> np.ndarray:
    """The (H, W) input the crops are drawn on: the middle listed brightfield plane, or the stain."""
    if modality == "brightfield" and str(row.get("brightfield", "")).strip():
        stack = read_image(manifest_dir / row["brightfield"])
        if stack.ndim == 2:
            return stack.astype(float)
        listed = [int(p) for p in str(planes).split(".") if p.isdigit()]
        plane = listed[len(listed) // 2] if listed else stack.shape[0] // 2
        return stack[min(plane, stack.shape[0] - 1)].astype(float)
    return read_image(manifest_dir / row["fluorescence"]).astype(float)


def composite(image: np.ndarray, prob: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(h, w, 3) RGB in [0, 1]: grey image (1-99th percentile), probability in red, contours."""
    low, high = np.percentile(image, [1, 99])
    grey = np.clip((image - low) / (high - low if high > low else 1.0), 0, 1)
    alpha = 0.55 * np.clip(prob, 0, 1)[..., None]
    rgb = grey[..., None] * (1 - alpha) + np.array([1.0, 0.0, 0.0]) * alpha
    rgb[find_boundaries(truth, mode="outer") & (truth == 0)] = GT_COLOUR  # just outside the true nucleus
    rgb[find_boundaries(pred, mode="inner")] = PRED_COLOUR  # just inside the predicted one: both stay visible
    return np.clip(rgb, 0.0, 1.0)


def _draw(ax, example: Example, results: Path, run: ChosenRun, manifest: pd.DataFrame, manifest_dir: Path,
          truth_col: str) -> None:
    row = manifest.loc[example.image_id]
    prob_dir, inst_dir = prediction_dirs(results, run.run_id, run.eval_set, run.method)
    truth = read_image(manifest_dir / row[truth_col])
    pixel_size = float(row.get("pixel_size_um", 1.0))
    window = crop_window(example, truth.shape, pixel_size)
    image = base_image(manifest_dir, row, run.modality, run.planes)[window]
    prob = _foreground(read_image(prob_dir / f"{example.image_id}_prob.tif"))[window]
    pred = read_image(inst_dir / f"{example.image_id}_labels.tif")[window]
    ax.imshow(composite(image, prob, truth[window], pred), interpolation="nearest")
    r, c = example.centre[0] - window[0].start, example.centre[1] - window[1].start
    side = image.shape[0]
    if example.region is not None:
        ax.contour(example.region[window].astype(float), levels=[0.5], colors=MARK_COLOUR, linewidths=1.0,
                   linestyles="--")
    else:
        offset = 0.22 * side  # the arrow comes from the emptier side of the crop
        tail = (c - offset if c > side / 2 else c + offset, r - offset if r > side / 2 else r + offset)
        ax.annotate("", xy=(c, r), xytext=tail,
                    arrowprops={"arrowstyle": "-|>", "color": MARK_COLOUR, "lw": 1.4, "shrinkA": 0, "shrinkB": 4})
    bar = SCALE_BAR_UM / pixel_size
    ax.plot([side * 0.06, side * 0.06 + bar], [side * 0.93] * 2, color="white", lw=2, solid_capstyle="butt")
    ax.text(side * 0.06 + bar / 2, side * 0.90, f"{SCALE_BAR_UM:g} µm", color="white", ha="center", va="bottom",
            fontsize=6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{TITLES[example.kind]}\n{example.detail}", fontsize=6.5)
    ax.set_xlabel(example.image_id, fontsize=5.5)


def fig_error_examples(results: Path, out_dir: Path, **_) -> list[Path] | None:
    """Draw ``06_error_examples`` (PNG + PDF); None without the per-image table, a run with
    predictions, or the manifest."""
    results, out_dir = Path(results), Path(out_dir)
    if not present(results, INPUTS):
        return None
    run = choose_run(results)
    path = manifest_path(results)
    if run is None or not path.is_file():
        return None
    examples = {e.kind: e for e in find_examples(results, run)}
    manifest = pd.read_csv(path, dtype={"image_id": str}).set_index("image_id", drop=False)
    truth_col = truth_column(results)
    with figure_style():
        fig = new_figure(8.0, 2.55)
        axes = fig.subplots(1, len(KINDS))
        for ax, kind in zip(axes, KINDS):
            if kind in examples:
                _draw(ax, examples[kind], results, run, manifest, path.parent, truth_col)
            else:
                note_empty(ax, f"{TITLES[kind]}:\nno example in\n{len(run.image_ids)} images")
        fig.suptitle(f"{model_name(run.model)}, {run.modality}, run {run.run_id} on {run.eval_set} "
                     f"(best mean pixel F1 of its modality: {100 * run.mean_f1:.1f}%)", fontsize=8)
        handles = [Line2D([], [], color=GT_COLOUR, lw=2, label="ground truth"),
                   Line2D([], [], color=PRED_COLOUR, lw=2, label="prediction"),
                   Line2D([], [], color="red", lw=5, alpha=0.55, label="probability map"),
                   Line2D([], [], color=MARK_COLOUR, lw=1.4, marker=">", ms=4, label="error (arrow)"),
                   Line2D([], [], color=MARK_COLOUR, lw=1.0, ls="--", label="error region")]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), facecolor="0.2", labelcolor="white",
                   frameon=True, edgecolor="0.2")
        paths = save(fig, out_dir / "06_error_examples")
    return paths
