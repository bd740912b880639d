# Helpers shared by all rule files: config validation, paths, wildcard parsing.
import json

from snakemake.exceptions import WorkflowError

from nucflow.config import validate_config

if not config:
    raise WorkflowError(
        "no config given: pass --configfile config/config.yaml (the default profile does this)"
    )
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
    targets += ["results/plan.csv"]
    targets += expand("results/tables/{arm}/per_image.csv", arm=ARMS_ON)
    return targets



# ---- the plan: one row per training run ------------------------------------------------------
from nucflow.study.plan import plan_runs, run_config

RUNS = {run.run_id: run for run in plan_runs(config)}
METHOD = config["postprocess"]["method"]


wildcard_constraints:
    run_id=r"[A-Za-z0-9_.+]+(-[A-Za-z0-9_.+]+)*",
    eval_set=r"[A-Za-z0-9_]+-(train|val|test)(-[A-Za-z0-9+]+)?",
    method=r"[a-z_0-9]+",
    arm=r"[a-z_]+",


def eval_set_key(text):
    """'seven_lines:test[:A+B]' (plan) -> 'seven_lines-test[-A+B]' (path)."""
    return text.replace(":", "-")


def eval_set_arg(key):
    """Path form back to the CLI form."""
    return key.replace("-", ":")


def run_tiles(wildcards):
    run = RUNS[wildcards.run_id]
    return [run.tiles(run.train_selection, run.augment), run.tiles(run.val_selection)]


def arm_entries(arm):
    """(run_id, eval_set_key, method) of every evaluation of an arm."""
    return [(r.run_id, eval_set_key(e), METHOD) for r in RUNS.values() if r.arm == arm for e in r.eval_sets]


def arm_metrics(wildcards):
    return [f"results/runs/{r}/metrics/{e}/{m}/per_image.csv" for r, e, m in arm_entries(wildcards.arm)]


def inference_args(wildcards):
    settings = config["inference"]
    tta = " --tta" if settings["tta"] else ""
    return f"--overlap {settings['overlap']} --batch-size {settings['batch_size']}{tta}"


def gpu_resources(attempt):
    return config["training"]["gpus"]


ARMS_ON = [name for name, arm in config["arms"].items() if arm["enabled"] and any(r.arm == name for r in RUNS.values())]
