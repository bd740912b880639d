"""The data overview figure: one row per cell line, one field each.

Columns: the nuclear stain, three brightfield planes (most negative defocus, in focus, most
positive defocus), the ground-truth labels in random colours, and the artifact mask over the
in-focus brightfield plane. Plane defocus values come from ``simulation.json`` beside the manifest
when it exists (simulated data); otherwise planes are named by their index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from nucflow.data.normalise import as_float32  # noqa: E402
from nucflow.errors import NucflowError  # noqa: E402
from nucflow.io import read_image, read_json  # noqa: E402

REQUIRED_COLUMNS = ("image_id", "dataset", "cell_line", "pixel_size_um", "fluorescence",
                    "brightfield", "labels")


@dataclass(frozen=True)
class OverviewRow:
    """The field drawn for one cell line and the brightfield planes shown (indices, titles)."""

    cell_line: str
    image_id: str
    planes: tuple[int, int, int]
    plane_titles: tuple[str, str, str]


def read_manifest_table(path: str | Path) -> pd.DataFrame:
    """The manifest as a DataFrame, checked for the columns the figure needs."""
    path = Path(path)
    if not path.is_file():
        raise NucflowError(f"{path}: manifest not found")
    try:
        frame = pd.read_csv(path)
    except Exception as exc:  # pandas raises several parser errors
        raise NucflowError(f"{path}: unreadable manifest ({type(exc).__name__}: {exc})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise NucflowError(f"{path}: missing column(s) {', '.join(missing)}")
    if frame.empty:
        raise NucflowError(f"{path}: no rows")
    return frame


def _signed(value: float) -> str:
    return "0" if value == 0 else f"{value:+g}"


def _plane_choice(n_planes: int, defocus: list[float] | None) -> tuple[tuple[int, int, int], tuple[str, str, str]]:
    if defocus is not None and len(defocus) == n_planes:
        focus = int(np.argmin(np.abs(defocus)))
        lo, hi = int(np.argmin(defocus)), int(np.argmax(defocus))
        return (lo, focus, hi), tuple(f"brightfield z = {_signed(defocus[i])} µm" for i in (lo, focus, hi))
    mid = n_planes // 2
    return (0, mid, n_planes - 1), tuple(f"brightfield plane {i + 1}/{n_planes}" for i in (0, mid, n_planes - 1))


def choose_rows(manifest: pd.DataFrame, seed: int, n_planes_of: dict[str, int],
                defocus_of: dict[str, list[float]]) -> list[OverviewRow]:
    """One field per cell line (in manifest order of first appearance), drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    rows = []
    for line in dict.fromkeys(manifest["cell_line"]):
        candidates = manifest[manifest["cell_line"] == line]
        pick = candidates.iloc[int(rng.integers(len(candidates)))]
        planes, titles = _plane_choice(n_planes_of[pick["image_id"]], defocus_of.get(pick.get("instrument", "")))
        rows.append(OverviewRow(str(line), str(pick["image_id"]), planes, titles))
    return rows


def label_colours(n_labels: int, seed: int = 0) -> ListedColormap:
    """Black background and a random bright colour per label id 1..n_labels (fixed seed)."""
    colours = 0.25 + 0.75 * np.random.default_rng(seed).random((n_labels + 1, 3))
    colours[0] = 0.0
    return ListedColormap(colours)


def _stretch(image: np.ndarray) -> np.ndarray:
    image = as_float32(image)  # a large integer offset must not swallow the signal
    lo, hi = np.percentile(image, [1.0, 99.8])
    return np.clip((image - lo) / max(float(hi - lo), 1e-6), 0, 1)


def _scale_bar(ax, shape: tuple[int, int], pixel_size_um: float) -> None:
    width_um = float(shape[1]) * pixel_size_um
    bar_um = next(b for b in (100, 50, 20, 10, 5, 2, 1) if b <= 0.3 * width_um) if width_um >= 3.5 else 1
    bar_px = bar_um / pixel_size_um
    x0, y0 = 0.05 * shape[1], 0.92 * shape[0]
    ax.add_patch(plt.Rectangle((x0, y0), bar_px, max(1.5, 0.02 * shape[0]), color="white"))
    ax.text(x0 + bar_px / 2, y0 - 0.02 * shape[0], f"{bar_um:g} µm", color="white", ha="center",
            va="bottom", fontsize=8, fontweight="bold")


def _source_note(entry: pd.Series) -> str:
    """``, classical(d=12.0um)`` for labels made from the stain; '' for given labels (or no column)."""
    from nucflow.labels.stain_labels import parse_label_source

    try:
        source = parse_label_source(entry.get("label_source")).text
    except NucflowError:
        return ""
    return "" if source == "given" else f", {source}"


def draw_overview(manifest_path: str | Path, out_png: str | Path, seed: int = 0) -> tuple[Path, Path]:
    """Draw the overview figure from a manifest; writes ``out_png`` and the PDF with the same stem."""
    manifest_path = Path(manifest_path)
    manifest = read_manifest_table(manifest_path)
    root = manifest_path.parent
    sim_json = root / "simulation.json"
    defocus_of = {}
    if sim_json.is_file():
        info = read_json(sim_json)
        defocus_of = {name: inst.get("plane_defocus_um") for name, inst in info.get("instruments", {}).items()}
    n_planes_of = dict(zip(manifest["image_id"], manifest.get("n_planes", pd.Series(1, index=manifest.index))))
    rows = choose_rows(manifest, seed, {k: int(v) for k, v in n_planes_of.items()}, defocus_of)
    by_id = manifest.set_index("image_id")

    n_cols = 6
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(2.2 * n_cols, 2.35 * len(rows) + 0.5),
                             squeeze=False)
    for r, row in enumerate(rows):
        entry = by_id.loc[row.image_id]
        px = float(entry["pixel_size_um"])
        fluorescence = read_image(root / entry["fluorescence"])
        stack = read_image(root / entry["brightfield"])
        stack = stack[None] if stack.ndim == 2 else stack
        labels = read_image(root / entry["labels"])
        artifacts = (read_image(root / entry["artifacts"]) > 0
                     if "artifacts" in entry and isinstance(entry["artifacts"], str)
                     else np.zeros(labels.shape, dtype=bool))
        panels = [(_stretch(fluorescence), "gray", f"nuclear stain (counts, {px:g} µm/px)")]
        panels += [(_stretch(stack[p]), "gray", t) for p, t in zip(row.planes, row.plane_titles)]
        for c, (image, cmap, title) in enumerate(panels):
            axes[r, c].imshow(image, cmap=cmap, interpolation="nearest")
            axes[r, c].set_title(title, fontsize=7)
        axes[r, 4].imshow(labels, cmap=label_colours(int(labels.max())), interpolation="nearest",
                          vmin=0, vmax=max(int(labels.max()), 1))
        axes[r, 4].set_title(f"labels ({len(np.unique(labels)) - 1} nuclei{_source_note(entry)})", fontsize=7)
        focus = _stretch(stack[row.planes[1]])
        overlay = np.dstack([focus, focus, focus])
        overlay[artifacts] = 0.5 * overlay[artifacts] + 0.5 * np.array([1.0, 0.2, 0.1])
        axes[r, 5].imshow(overlay, interpolation="nearest")
        share = 100.0 * artifacts.mean()
        axes[r, 5].set_title(f"artifacts (red, {share:.1f} % of area)", fontsize=7)
        _scale_bar(axes[r, 0], fluorescence.shape, px)
        axes[r, 0].set_ylabel(f"{row.cell_line}\n{row.image_id}", fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    simulated = " (simulated data)" if sim_json.is_file() else ""
    fig.suptitle(f"Data overview{simulated}: one field per cell line", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    out_png = Path(out_png)
    if out_png.suffix.lower() != ".png":
        raise NucflowError(f"{out_png}: --out must end in .png (the PDF gets the same stem)")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    out_pdf = out_png.with_suffix(".pdf")
    fig.savefig(out_png, dpi=130)
    fig.savefig(out_pdf, metadata={"CreationDate": None, "Producer": None})
    plt.close(fig)
    return out_png, out_pdf
