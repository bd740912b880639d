"""Import the labelled scratch-assay time series shipped in the ``ndev-sampledata`` package.

``ndev_sampledata/samples/scratch-assay-labeled-10T-2Ch.tiff`` (BSD-3, Tim Monko) is an OME-TIFF,
axes ``CTYX`` = (4, 10, 210, 576) uint16 at 0.619 µm/px, with the channels

====  ==========  =====================================================
  C   OME name    content
====  ==========  =====================================================
  0   H3342       Hoechst 33342 nuclear stain (fluorescence)
  1   oblique     oblique transmitted light (a brightfield-like image)
  2   nuclei      nucleus instance labels
  3   cyto        cell instance labels (not used)
====  ==========  =====================================================

Each of the 10 time points becomes one field of view ``ndev_t00`` ... ``ndev_t09`` (``field`` = the
time point): fluorescence = Hoechst, brightfield = the oblique channel as a 1-plane stack, labels =
the nucleus labels. Channels are found by their OME names, so a re-ordered future release is read
correctly, and a release without those names is refused rather than guessed.

The package is an optional extra (``pip install ndev-sampledata``). Importing the package itself
needs ``bioio``; we only locate its data folder (``importlib.util.find_spec``), read the file with
``tifffile`` and never import the package, so ``bioio`` is not needed here.
"""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile

from nucflow.data.importers.common import ImportedField, as_labels, as_plane, as_stack, check_out_dir, write_import
from nucflow.data.manifest import Manifest
from nucflow.errors import NucflowError

PACKAGE = "ndev_sampledata"
INSTALL = "pip install ndev-sampledata"
SAMPLE = "samples/scratch-assay-labeled-10T-2Ch.tiff"
PIXEL_SIZE_UM = 0.619
CHANNEL_NAMES = {"fluorescence": "H3342", "brightfield": "oblique", "labels": "nuclei"}
DEFAULT_CELL_LINE = "unknown"


def sample_path() -> Path:
    """Path of the scratch-assay file inside the installed package; NucflowError if not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise NucflowError(f"the ndev sample data are not installed; install them with: {INSTALL}")
    path = Path(list(spec.submodule_search_locations)[0]) / SAMPLE
    if not path.is_file():
        raise NucflowError(f"{path}: not found in the installed {PACKAGE}; reinstall with: {INSTALL}")
    return path


def _ome_channels_and_size(ome_xml: str | None) -> tuple[list[str], float | None]:
    """Channel names and PhysicalSizeX (µm) of the first OME image; ([], None) without OME."""
    if not ome_xml:
        return [], None
    root = ET.fromstring(ome_xml)
    pixels = next((el for el in root.iter() if el.tag.endswith("Pixels")), None)
    if pixels is None:
        return [], None
    names = [el.get("Name", "") for el in pixels if el.tag.endswith("Channel")]
    size = pixels.get("PhysicalSizeX")
    return names, float(size) if size is not None else None


def read_scratch_assay(path: Path) -> tuple[dict[str, np.ndarray], float]:
    """The three used channels as (T, Y, X) arrays keyed like :data:`CHANNEL_NAMES`, and the pixel size (µm)."""
    path = Path(path)
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes, data = series.axes, series.asarray()
            names, size = _ome_channels_and_size(tif.ome_metadata)
    except Exception as exc:
        raise NucflowError(f"{path}: unreadable image ({type(exc).__name__}: {exc})") from None
    for axis, extent in zip(axes, data.shape):
        if axis not in "CTYX" and extent != 1:
            raise NucflowError(f"{path}: unexpected axis {axis!r} of size {extent} (axes {axes})")
    if not set("CTYX") <= set(axes):
        raise NucflowError(f"{path}: expected axes C, T, Y, X; the file has {axes}")
    keep = [i for i, axis in enumerate(axes) if axis in "CTYX" or data.shape[i] != 1]
    data = data.reshape([data.shape[i] for i in keep])
    kept_axes = "".join(axes[i] for i in keep)
    data = np.transpose(data, [kept_axes.index(a) for a in "CTYX"])
    channels = {}
    for kind, name in CHANNEL_NAMES.items():
        if name not in names:
            raise NucflowError(f"{path}: no channel named {name!r} (channels: {', '.join(names) or 'none'})")
        channels[kind] = data[names.index(name)]
    return channels, size if size is not None else PIXEL_SIZE_UM


def import_ndev(out_dir: str | Path, *, dataset: str = "ndev", path: str | Path | None = None,
                cell_line: str = DEFAULT_CELL_LINE, overwrite: bool = False) -> Manifest:
    """Write the scratch assay as a 10-field data set into ``out_dir``; returns the validated manifest.

    ``path`` overrides the file's location (default: inside the installed ``ndev-sampledata``); a
    non-empty ``out_dir`` is replaced only with ``overwrite``.
    """
    source = Path(path) if path is not None else sample_path()
    out = check_out_dir(Path(out_dir), [source.parent, source], overwrite)
    channels, pixel_size_um = read_scratch_assay(source)
    n_time = channels["labels"].shape[0]

    def fields() -> Iterator[ImportedField]:
        for t in range(n_time):
            where = f"{source} (time point {t})"
            yield ImportedField(image_id=f"{dataset}_t{t:02d}", cell_line=cell_line,
                                labels=as_labels(channels["labels"][t], where),
                                fluorescence=as_plane(channels["fluorescence"][t], where),
                                brightfield=as_stack(channels["brightfield"][t], where),
                                field=t, instrument="")

    arguments = {"source": str(source), "dataset": dataset, "cell_line": cell_line,
                 "channels": dict(CHANNEL_NAMES), "pixel_size_um": pixel_size_um}
    return write_import(out, fields(), dataset=dataset, pixel_size_um=pixel_size_um, importer="ndev",
                        arguments=arguments, overwrite=overwrite)
