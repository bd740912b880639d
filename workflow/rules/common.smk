# Helpers shared by all rule files: config validation, paths, wildcard parsing.
import json

from nucflow.config import validate_config

validate_config(config, source="snakemake config")

DATASETS = sorted(config["simulation"]["datasets"]) if config["data"]["source"] == "simulated" else []
SIMULATED_ROOT = "resources/simulated"
MANIFEST = (
    f"{SIMULATED_ROOT}/manifest.csv"
    if config["data"]["source"] == "simulated"
    else config["data"]["manifest"]
)


wildcard_constraints:
    dataset=r"[A-Za-z0-9_]+",
    modality=r"fluorescence|brightfield",
    planes=r"none|\d+(\.\d+)*",
    selection=r"(train|val|test)(-n\d+)?(-(lines|ex)[A-Za-z0-9+]+)?",


def section(name):
    """A config section as canonical JSON: a rule's params, so editing it reruns that rule only."""
    return json.dumps(config[name], sort_keys=True)


def tiles_args(wildcards):
    """CLI options of `nucflow tiles` from the {modality}-{planes}/{selection} wildcards."""
    parts = wildcards.selection.split("-")
    args = [f"--split {parts[0]}", f"--modality {wildcards.modality}"]
    for part in parts[1:]:
        if part.startswith("n"):
            args.append(f"--n {int(part[1:])}")
        elif part.startswith("lines"):
            args.append("--lines " + " ".join(part[len("lines"):].split("+")))
        elif part.startswith("ex"):
            args.append("--exclude-lines " + " ".join(part[len("ex"):].split("+")))
    if wildcards.planes != "none":
        args.append("--planes " + wildcards.planes.replace(".", ","))
    tiles, norm = config["tiles"], config["normalisation"]
    args += [
        f"--size {tiles['size']}",
        f"--overlap {tiles['overlap']}",
        f"--normalisation {norm['method']}",
        "--percentiles {} {}".format(*norm["percentiles"]),
    ]
    return " ".join(args)


def all_targets():
    """What `snakemake` builds by default: the data stage for every data set (later stages extend this)."""
    targets = ["results/data/overview.png", "results/data/splits.json"]
    datasets = DATASETS or sorted(_manifest_datasets())
    targets += expand("results/tiles/{dataset}/fluorescence-none/train.aug.npz", dataset=datasets)
    return targets


def _manifest_datasets():
    import pandas as pd

    return set(pd.read_csv(MANIFEST, usecols=["dataset"])["dataset"])
