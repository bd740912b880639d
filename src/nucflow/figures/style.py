"""One look for every figure: fixed model colours, a seaborn-based style, deterministic saving.

Models always appear with the colours of their model registry entries
(:mod:`nucflow.models.registry`), in every figure; names outside the registry (e.g. ``frem``) get
grey shades. Their names and order, and those of data sets, come from
:mod:`nucflow.results.names`, which the report uses too; this module re-exports
``ordered_models``, ``model_name``, ``dataset_name``, ``ordered_datasets``, ``OTHER_NAMES``,
``MODALITY_NAMES`` and ``DATASET_NAMES`` so that the figure modules import their look from one
place.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot, no global state); the
style is applied with :func:`figure_style`, a context manager around ``matplotlib.rc_context``.
:func:`save` writes PNG and PDF without timestamps or software tags, so the same tables give the
same bytes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import seaborn as sns
from matplotlib.figure import Figure

from nucflow.models.registry import REGISTRY
from nucflow.results.names import (DATASET_NAMES, MODALITY_NAMES, OTHER_NAMES, dataset_name,  # noqa: F401
                                   model_name, ordered_datasets, ordered_models)

OTHER_COLOURS = ("#555555", "#888888", "#AAAAAA", "#333333")

PNG_DPI = 150
PNG_METADATA = {"Software": None}
PDF_METADATA = {"CreationDate": None, "Creator": None, "Producer": None}

_RC = {
    "figure.dpi": 100,
    "savefig.dpi": PNG_DPI,
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "pdf.fonttype": 42,
    "svg.hashsalt": "nucflow",
    "path.simplify": True,
}


def model_colour(model: str) -> str:
    """The fixed colour of a model (a grey shade for names outside the registry)."""
    if model in REGISTRY:
        return REGISTRY[model].colour
    return OTHER_COLOURS[sum(map(ord, model)) % len(OTHER_COLOURS)]


def group_palette(groups: Iterable) -> dict[str, tuple]:
    """Colours for categories that are not models (cell lines, arms), sorted by name."""
    names = sorted({str(g) for g in groups})
    colours = sns.color_palette("Set2" if len(names) <= 8 else "husl", max(len(names), 1))
    return dict(zip(names, colours))


@contextmanager
def figure_style():
    """Apply the house style (seaborn ``ticks``, ``paper`` context, small fonts) for a block."""
    rc = {**sns.axes_style("ticks"), **sns.plotting_context("paper"), **_RC}
    with matplotlib.rc_context(rc):
        yield


def new_figure(width_in: float, height_in: float, **kwargs) -> Figure:
    """A figure of the given size in inches, with constrained layout (no overlapping labels)."""
    return Figure(figsize=(width_in, height_in), layout="constrained", **kwargs)


def jitter(n: int, width: float = 0.25) -> "list[float]":
    """Deterministic horizontal offsets for ``n`` points of a strip plot, spread over +-width/2."""
    if n <= 1:
        return [0.0] * n
    return [-width / 2 + width * i / (n - 1) for i in range(n)]


def _write_atomic(path: Path, fig: Figure, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, **kwargs)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save(fig: Figure, stem: str | os.PathLike) -> list[Path]:
    """Write ``<stem>.png`` (150 dpi) and ``<stem>.pdf`` atomically, without timestamps.

    Returns the two paths, PNG first.
    """
    stem = Path(stem)
    png, pdf = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")
    _write_atomic(png, fig, format="png", dpi=PNG_DPI, metadata=PNG_METADATA)
    _write_atomic(pdf, fig, format="pdf", metadata=PDF_METADATA)
    return [png, pdf]
