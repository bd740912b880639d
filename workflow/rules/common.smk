# Shared helpers of the workflow: config validation, paths, wildcard parsing, the plan.
import json
import os
import shlex

from snakemake.exceptions import WorkflowError

from nucflow.config import validate_config

if not config:
    raise WorkflowError("no config given: pass --configfile (the default profile passes the demo config)")
validate_config(config, source="snakemake config")

DATASETS = sorted(config["simulation"]["datasets"]) if config["data"]["source"] == "simulated" else []
SIMULATED_ROOT = "resources/simulated"
MANIFEST = (
    f"{SIMULATED_ROOT}/manifest.csv"
    if config["data"]["source"] == "simulated"
    else config["data"]["manifest"]
)



def snapshot(*names):
    """Config sections (plus the seed) as shell-quoted canonical JSON: the params of the step that
    writes them to a file, so editing a section reruns exactly what depends on that file."""
    content = {name: config[name] for name in names} if names else dict(config)
    content.setdefault("seed", config["seed"])
    return shlex.quote(json.dumps(content, sort_keys=True))


SNAPSHOTS = {"simulation": ("simulation",), "splits": ("splits",), "study": ()}


def tiles_args(wildcards):
    """CLI options of `nucflow tiles` from the {modality}-{planes}/{selection} wildcards."""
    parts = wildcards.selection.split("-")
    args = [f"--split {parts[0]}", f"--modality {wildcards.modality}"]
    for part in parts[1:]:
        if part.startswith("n"):
            args.append(f"--n {int(part[1:])}")
        elif part.startswith("lines"):
            args.append(f"--lines {' '.join(part[len('lines'):].split('+'))}")
        elif part.startswith("ex"):
            args.append(f"--exclude-lines {' '.join(part[len('ex'):].split('+'))}")
    if wildcards.planes != "none":
        args.append(f"--planes {wildcards.planes.replace('.', ',')}")
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
    targets += expand("results/attribution/{arm}/tables", arm=ARMS_ON)
    targets += ["results/summary.md"]
    return targets



# ---- the plan: one row per training run ------------------------------------------------------
from nucflow.study.plan import plan_runs, run_config

RUNS = {run.run_id: run for run in plan_runs(config)}
METHOD = config["postprocess"]["method"]



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


def label_noise_groups():
    """(dataset, seed) -> {model: run_id} of fluorescence model-comparison runs; only groups
    with at least five models can carry the paper's 4-of-5 estimate."""
    groups = {}
    for run in RUNS.values():
        if run.arm == "model_comparison" and run.modality == "fluorescence":
            groups.setdefault((run.dataset, run.seed), {})[run.model] = run.run_id
    return {key: models for key, models in groups.items() if len(models) >= 5}


def label_noise_models(wildcards):
    return sorted(label_noise_groups()[(wildcards.dataset, int(wildcards.seed))])


def label_noise_inputs(wildcards):
    models = label_noise_groups()[(wildcards.dataset, int(wildcards.seed))]
    return [f"results/runs/{models[m]}/prob/{wildcards.dataset}-test" for m in sorted(models)]


def arm_attribution(wildcards):
    return [f"results/runs/{r}/attribution/{e}/{m}/tables" for r, e, m in arm_entries(wildcards.arm)]


def arm_label_noise(wildcards):
    if wildcards.arm != "model_comparison":
        return []
    return [f"results/attribution/model_comparison/label_noise/{d}-s{s}" for d, s in sorted(label_noise_groups())]


def figure_inputs():
    """The tables the figures read; figures of arms that are off are skipped by `nucflow figures`."""
    inputs = ["results/models.csv", "results/plan.csv", "results/config/study.json"]
    inputs += expand("results/tables/{arm}/per_image.csv", arm=ARMS_ON)
    inputs += expand("results/attribution/{arm}/tables", arm=ARMS_ON)
    return inputs
