"""Labels made from the stain for an existing manifest, and how close they are to the truth.

:func:`relabel_manifest` writes a new data set folder: the manifest with every row's ``labels``
made by a :class:`~nucflow.labels.stain_labels.StainLabeller` from its fluorescence image (and
``label_source`` saying so), the new label TIFFs under ``DIR/<dataset>/labels/``, and
``DIR/label.json``. Image, truth and artifact paths point at the original files (relative to
``DIR``), so nothing is copied. The input manifest may have empty ``labels`` (a data set without
masks); every row needs a fluorescence image. All or nothing, as the importers: written into a
staging folder, validated (every pixel read) and swapped in; a non-empty ``DIR`` needs
``overwrite``.

:func:`compare_with_truth` scores labels against ``labels_true``
(:func:`nucflow.evaluation.agreement.label_agreement`) for the manifest's own labels and each
labeller, pooled per data set: the label noise a user inherits from each way of making labels.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nucflow import __version__
from nucflow.data.importers.common import LEFT_OUT, check_name, check_out_dir
from nucflow.data.manifest import COLUMNS, Manifest, load_manifest, read_manifest_table
from nucflow.labels.stain_labels import StainLabeller, parse_label_source
from nucflow.errors import ManifestError, NucflowError
from nucflow.evaluation.agreement import AGREEMENT_COLUMNS, label_agreement
from nucflow.io import read_image, replace_dir, staging_dir, write_csv, write_json, write_tiff

PATH_COLUMNS = ("fluorescence", "brightfield", "labels_true", "artifacts")


def _empty(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""


def _file(root: Path, row: pd.Series, column: str) -> Path | None:
    value = row.get(column)
    return None if _empty(value) else (root / str(value)).resolve()


def _stain(manifest_path: Path, number: int, row: pd.Series) -> tuple[Path, float]:
    """(fluorescence file, pixel size) of one row; NucflowError naming the row when it has none."""
    where = f"{manifest_path} row {number} (image_id={row['image_id']})"
    path = _file(manifest_path.parent, row, "fluorescence")
    if path is None:
        raise NucflowError(f"{where}: no fluorescence image to make labels from")
    try:
        size = float(row["pixel_size_um"])
    except (TypeError, ValueError):
        raise NucflowError(f"{where}, column pixel_size_um: {row['pixel_size_um']!r} is not a number") from None
    if not np.isfinite(size) or size <= 0:
        raise NucflowError(f"{where}, column pixel_size_um: {size!r} is not a positive number")
    return path, size


def relabel_manifest(manifest_path: str | Path, out_dir: str | Path, labeller: StainLabeller, *,
                     overwrite: bool = False) -> Manifest:
    """Write a copy of the manifest at ``out_dir`` whose labels ``labeller`` made from the stain;
    return the validated manifest (see the module docstring)."""
    manifest_path = Path(manifest_path).resolve()
    frame = read_manifest_table(manifest_path)
    out = check_out_dir(Path(out_dir), [manifest_path.parent], overwrite)
    staging = staging_dir(out, "label")
    try:
        rows, left_out = [], []
        for index, row in frame.iterrows():
            stain, size = _stain(manifest_path, index + 1, row)
            dataset = check_name(row["dataset"], f"{manifest_path} row {index + 1}, column dataset")
            labels = labeller(read_image(stain), size, str(stain))
            if labels is None:  # no labels from its stain: left out, not kept with empty truth
                left_out.append({"image_id": row["image_id"], "reason": labeller.left_out.get(str(stain), "")})
                continue
            relative = f"{dataset}/labels/{row['image_id']}.tif"
            write_tiff(staging / relative, labels)
            new = {column: row.get(column) for column in COLUMNS}
            for column in PATH_COLUMNS:
                source = _file(manifest_path.parent, row, column)
                new[column] = "" if source is None else os.path.relpath(source, out)
            new["labels"], new["label_source"] = relative, labeller.source.text
            rows.append(new)
        if not rows:
            raise NucflowError(f"{manifest_path}: the stain of every image gave no labels ({len(left_out)} left out)")
        if left_out:
            write_csv(staging / LEFT_OUT, pd.DataFrame(left_out, columns=["image_id", "reason"]))
        table = pd.DataFrame(rows, columns=list(COLUMNS))
        for column in ("field", "n_planes"):
            table[column] = pd.to_numeric(table[column], errors="coerce").astype("Int64")
        write_csv(staging / "manifest.csv", table)
        try:
            load_manifest(staging / "manifest.csv", deep=True)
        except ManifestError as exc:  # name the folder the user asked for, not the staging one
            raise ManifestError([p.replace(str(staging), str(out)) for p in exc.problems]) from None
        write_json(staging / "label.json", {"source_manifest": str(manifest_path), "n_images": len(rows),
                                            "n_left_out": len(left_out),
                                            "nucflow_version": __version__, **labeller.describe()})
        check_out_dir(out, [], overwrite)
        replace_dir(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return load_manifest(out / "manifest.csv", check_files=False)


TRUTH_COLUMNS = ("labels_true", "labels")


def compare_with_truth(manifest_path: str | Path, labellers: Sequence[StainLabeller],
                       include_given: bool = True, truth: str = "labels_true",
                       image_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Label noise of each way of making labels, per data set, against ``labels_true``.

    Rows: the manifest's own ``labels`` (method ``manifest``, when ``include_given`` and every row
    has labels) and each labeller's labels of the fluorescence images. Columns ``dataset, method,
    label_source`` and :data:`~nucflow.evaluation.agreement.AGREEMENT_COLUMNS` (pooled over the
    data set's images).

    ``truth="labels"`` scores the labellers against the manifest's own labels instead: on real data
    with hand-made masks this is the classical baseline of a study (the manifest row is then left
    out, it would be scored against itself). ``image_ids`` restricts the images (for example to a
    study's test split); an id that is not in the manifest is an error.
    """
    if truth not in TRUTH_COLUMNS:
        raise NucflowError(f"--truth {truth!r}: must be one of {', '.join(TRUTH_COLUMNS)}")
    manifest_path = Path(manifest_path).resolve()
    frame = read_manifest_table(manifest_path)
    root = manifest_path.parent
    if image_ids is not None:
        unknown = sorted(set(image_ids) - set(frame["image_id"]))
        if unknown:
            raise NucflowError(f"{manifest_path}: image_id {unknown[0]!r} (of the split) is not in the manifest")
        frame = frame[frame["image_id"].isin(set(image_ids))]  # keeps the row numbers
        if frame.empty:
            raise NucflowError(f"{manifest_path}: no images left to compare (empty split)")
    missing = frame.index[frame[truth].map(_empty)]
    if len(missing):
        row = frame.loc[missing[0]]
        hint = ("--compare-truth needs the exact truth (simulated data have it)" if truth == "labels_true"
                else "--truth labels needs every image's labels")
        raise NucflowError(f"{manifest_path} row {missing[0] + 1} (image_id={row['image_id']}): no {truth}; {hint}")
    with_given = include_given and truth == "labels_true" and not frame["labels"].map(_empty).any()
    methods: list[tuple[str, str]] = []
    if with_given:
        sources = sorted({parse_label_source(v).text for v in frame["label_source"]})
        methods.append(("manifest", "+".join(sources)))
    methods += [(labeller.source.text, labeller.source.text) for labeller in labellers]
    pooled: dict[tuple[str, str], list] = {}
    for index, row in frame.iterrows():
        reference = read_image(_file(root, row, truth))
        candidates = []
        if with_given:
            candidates.append(("manifest", read_image(_file(root, row, "labels"))))
        if labellers:
            stain, size = _stain(manifest_path, index + 1, row)
            image = read_image(stain)
            for labeller in labellers:  # a field a labeller leaves out scores as empty labels here
                labels = labeller(image, size, str(stain))
                candidates.append((labeller.source.text, np.zeros(image.shape[-2:], np.uint16) if labels is None
                                   else labels))
        for method, labels in candidates:
            pooled.setdefault((row["dataset"], method), []).append(label_agreement(reference, labels))
    rows = []
    for dataset in sorted(frame["dataset"].unique()):
        for method, source in methods:
            total = sum(pooled[(dataset, method)])
            rows.append({"dataset": dataset, "method": method, "label_source": source, **total.as_row()})
    return pd.DataFrame(rows, columns=["dataset", "method", "label_source", *AGREEMENT_COLUMNS])


def write_comparison(path: str | Path, table: pd.DataFrame) -> Path:
    """The comparison table as CSV (floats rounded to 4 decimals, so reruns give the same bytes)."""
    return write_csv(path, table.round(4))
