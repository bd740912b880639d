"""``nucflow import {folder,phenix,omezarr,ndev} ... --out DIR``: write a checked data set from other layouts.

Every importer writes ``DIR/manifest.csv``, the converted TIFFs under ``DIR/<dataset>/`` and
``DIR/import.json``, then validates the manifest (reading every pixel); see ``docs/importers.md``.
All or nothing: the import is written beside ``DIR`` and replaces it only once it validated; a
non-empty ``DIR`` needs ``--overwrite``. Fields without masks get labels made from the nuclear
stain (``--labels-from``, ``classical`` by default), and the command says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _output_options(parser: argparse.ArgumentParser) -> None:
    output = parser.add_argument_group("output")
    output.add_argument("--out", type=Path, required=True,
                        help="output folder: manifest.csv, import.json and "
                             "<dataset>/{fluorescence,brightfield,labels}/; must be new or empty")
    output.add_argument("--overwrite", action="store_true",
                        help="replace a non-empty --out whole, once the new import has validated")


def _mask_options(group) -> None:
    group.add_argument("--binary-masks", action="store_true",
                       help="masks are binary (one value for every nucleus): label their 4-connected regions, "
                            "one nucleus each (touching nuclei stay one); without it a binary mask is refused")


def _stain_options(parser: argparse.ArgumentParser) -> None:
    from nucflow.labels.stain_labels import DEFAULT_DIAMETER_UM

    group = parser.add_argument_group("labels from the nuclear stain (fields without masks)")
    group.add_argument("--labels-from", default=None, metavar="classical|model:RUN",
                       help="how to make the labels of fields without masks: classical (the tuned classical "
                            "pipeline; the default when no masks are given at all) or model:RUN (a trained "
                            "fluorescence run folder or export); given explicitly, it also fills in missing masks")
    group.add_argument("--nucleus-diameter-um", type=float, default=DEFAULT_DIAMETER_UM,
                       help=f"expected nucleus diameter in µm, which tunes the classical pipeline "
                            f"(default {DEFAULT_DIAMETER_UM:g})")
    group.add_argument("--device", default="cpu", help="device for model:RUN (default cpu)")


def _add_folder(sub) -> None:
    parser = sub.add_parser("folder",
                            help="images with masks named as Cellpose (x_masks.tif) or StarDist (images/, masks/) expect",
                            description="Import images with instance masks: DIR/x.tif + DIR/x_masks.tif, or "
                                        "DIR/images/x.tif + DIR/masks/x.tif (.tif, .tiff, .png). A folder "
                                        "of fluorescence images without masks gets labels made from the stain.")
    inputs = parser.add_argument_group("input")
    inputs.add_argument("images", type=Path, help="folder holding the images and masks")
    inputs.add_argument("--modality", required=True, choices=("fluorescence", "brightfield"),
                        help="what the images are; a 3-D brightfield image is a plane stack, planes first")
    inputs.add_argument("--metadata", type=Path, default=None,
                        help="optional CSV: image_id (file stem) and any of cell_line, well, field, instrument; "
                             "must list every image")
    _mask_options(inputs)
    about = parser.add_argument_group("about the data")
    about.add_argument("--pixel-size-um", type=float, required=True, help="pixel edge in µm")
    about.add_argument("--dataset", required=True, help="data set name written to the manifest")
    about.add_argument("--instrument", default="",
                       help="microscope name (default: empty; the metadata CSV may set it per image)")
    _stain_options(parser)
    _output_options(parser)


def _add_phenix(sub) -> None:
    parser = sub.add_parser("phenix",
                            help="Opera Phenix / Operetta Harmony export "
                                 "(r01c01f01p01-ch1sk1fk1fl1.tiff or 0101K1F1P1R1.tiff)",
                            description="Import a Harmony export: one TIFF per well, field, plane and channel. "
                                        "Masks are MASKS/r02c03f01_masks.tif (row, column, field).")
    inputs = parser.add_argument_group("input")
    inputs.add_argument("--images", type=Path, required=True,
                        help="folder of exported TIFFs (Harmony's Images/ folder)")
    inputs.add_argument("--plate-map", type=Path, required=True,
                        help="CSV with columns well (B03 or r02c03) and cell_line")
    inputs.add_argument("--masks", type=Path, default=None,
                        help="folder of instance masks named <image_id>_masks.tif, image_id = r02c03f01 "
                             "(+ sk<t> when several time points); without it labels are made from the "
                             "nuclear stain")
    _mask_options(inputs)
    channels = parser.add_argument_group("channels (1-based, as ch<N> / R<N> in the file names)")
    channels.add_argument("--nuclear-channel", type=int, default=None,
                          help="nuclear stain channel; several planes are max-projected")
    channels.add_argument("--brightfield-channel", type=int, default=None,
                          help="brightfield channel; its planes are stacked in plane order")
    about = parser.add_argument_group("about the data")
    about.add_argument("--pixel-size-um", type=float, required=True, help="pixel edge in µm")
    about.add_argument("--dataset", required=True, help="data set name written to the manifest")
    about.add_argument("--instrument", default="Opera Phenix", help="microscope name (default: Opera Phenix)")
    _stain_options(parser)
    _output_options(parser)


def _add_omezarr(sub) -> None:
    parser = sub.add_parser("omezarr",
                            help="OME-Zarr (NGFF 0.4 / 0.5) HCS plate, well or image; channels chosen by name",
                            description="Import an NGFF plate (every field of every well), one well or one "
                                        "image. Channels are chosen by their omero names; the nuclear channel is "
                                        "max-projected over z, the brightfield channel's z planes are the stack. "
                                        "Masks come from an NGFF labels entry (--label-image) or are made from "
                                        "the nuclear stain.")
    inputs = parser.add_argument_group("input")
    inputs.add_argument("source", type=Path, help="PLATE.zarr, PLATE.zarr/B/3 (a well) or IMAGE.zarr")
    inputs.add_argument("--label-image", default=None, metavar="NAME",
                        help="the images' NGFF labels entry holding instance masks (e.g. nuclei); without it "
                             "labels are made from the nuclear stain")
    inputs.add_argument("--plate-map", type=Path, default=None,
                        help="CSV with columns well (B03 or r02c03) and cell_line (default: --cell-line for all)")
    _mask_options(inputs)
    channels = parser.add_argument_group("channels (names as in the image's omero metadata)")
    channels.add_argument("--nuclear-channel", default=None, metavar="NAME",
                          help="nuclear stain channel by name, e.g. Hoechst, or by 0-based index where two "
                               "channels share a name; several z planes are max-projected")
    channels.add_argument("--brightfield-channel", default=None, metavar="NAME",
                          help="brightfield channel by name, e.g. BF, or by 0-based index; its z planes are the "
                               "plane stack")
    about = parser.add_argument_group("about the data")
    about.add_argument("--dataset", required=True, help="data set name written to the manifest")
    about.add_argument("--pixel-size-um", type=float, default=None,
                       help="pixel edge in µm (default: the image's own, from its NGFF scale and axis unit)")
    about.add_argument("--cell-line", default="unknown", help="cell line of every field without --plate-map")
    about.add_argument("--instrument", default="", help="microscope name (default: empty)")
    _stain_options(parser)
    _output_options(parser)


def _add_ndev(sub) -> None:
    parser = sub.add_parser("ndev",
                            help="the ndev-sampledata scratch assay (10 time points; pip install ndev-sampledata)",
                            description="Import the labelled scratch-assay time series of the ndev-sampledata "
                                        "package: Hoechst, oblique transmitted light and nucleus labels, "
                                        "one field per time point.")
    inputs = parser.add_argument_group("input")
    inputs.add_argument("--file", type=Path, default=None,
                        help="the OME-TIFF to read (default: the copy inside the installed ndev-sampledata)")
    about = parser.add_argument_group("about the data")
    about.add_argument("--dataset", default="ndev", help="data set name and image id prefix (default: ndev)")
    about.add_argument("--cell-line", default="unknown", help="cell line written to the manifest (default: unknown)")
    _output_options(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="importer", metavar="IMPORTER", required=True,
                                help="folder | phenix | omezarr | ndev; 'nucflow import IMPORTER --help' for its options")
    _add_folder(sub)
    _add_phenix(sub)
    _add_omezarr(sub)
    _add_ndev(sub)


def run(args: argparse.Namespace) -> int:
    if args.importer == "folder":
        from nucflow.data.importers.folder import import_folder

        manifest = import_folder(args.images, args.out, modality=args.modality, pixel_size_um=args.pixel_size_um,
                                 dataset=args.dataset, metadata_csv=args.metadata, instrument=args.instrument,
                                 overwrite=args.overwrite, binary_masks=args.binary_masks, **_stain_kwargs(args))
    elif args.importer == "phenix":
        from nucflow.data.importers.phenix import import_phenix

        manifest = import_phenix(args.images, args.out, plate_map=args.plate_map, masks_dir=args.masks,
                                 pixel_size_um=args.pixel_size_um, dataset=args.dataset,
                                 nuclear_channel=args.nuclear_channel,
                                 brightfield_channel=args.brightfield_channel, instrument=args.instrument,
                                 overwrite=args.overwrite, binary_masks=args.binary_masks, **_stain_kwargs(args))
    elif args.importer == "omezarr":
        from nucflow.data.importers.omezarr import import_omezarr

        manifest = import_omezarr(args.source, args.out, dataset=args.dataset, nuclear_channel=args.nuclear_channel,
                                  brightfield_channel=args.brightfield_channel, label_image=args.label_image,
                                  pixel_size_um=args.pixel_size_um, plate_map=args.plate_map,
                                  cell_line=args.cell_line, instrument=args.instrument, overwrite=args.overwrite,
                                  binary_masks=args.binary_masks, **_stain_kwargs(args))
    else:
        from nucflow.data.importers.ndev import import_ndev

        manifest = import_ndev(args.out, dataset=args.dataset, path=args.file, cell_line=args.cell_line,
                               overwrite=args.overwrite)
    if getattr(args, "binary_masks", False):
        print(f"{args.out}: --binary-masks: binary masks were labelled by connected regions (4-connected), one "
              "nucleus per region; touching nuclei count as one")
    made = manifest.label_sources()
    made = made[made != "given"]
    for source, count in sorted(made.value_counts().items()):
        print(f"{args.out}: no masks for {count} of {len(manifest.frame)} images: their labels were made from the "
              f"nuclear stain by {source} (manifest column label_source); they carry that method's label noise, "
              "see docs/labels.md")
    print(manifest.summary())
    return 0


def _stain_kwargs(args: argparse.Namespace) -> dict:
    """The labeller of ``--labels-from`` (None: the importer's default, classical where needed)."""
    from nucflow.inference.stain_model import make_labeller

    labeller = None if args.labels_from is None else make_labeller(args.labels_from, args.nucleus_diameter_um,
                                                                   args.device)
    return {"labeller": labeller, "nucleus_diameter_um": args.nucleus_diameter_um}
