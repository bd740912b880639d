# Shared helpers of the workflow: config validation, paths, wildcard parsing, the plan.
import json
import os
import shlex
from pathlib import Path

from snakemake.exceptions import WorkflowError

from nucflow.config import validate_config
from nucflow.study.layout import (
    EVAL_SET_PATTERN,
    FINETUNE_RUN_ID_PATTERN,
    FOCAL_GROUP_PATTERN,
    RUN_ID_PATTERN,
    SELECTION_PATTERN,
    TRAIN_RUN_ID_PATTERN,
    EvalSet,
    FocalGroup,
    TileSelection,
)

if not config:
    raise WorkflowError(
        "no config given: pass --configfile (the default profile passes the demo config)"
    )
validate_config(config, source="snakemake config")

DATASETS = (
    sorted(config["simulation"]["datasets"])
    if config["data"]["source"] == "simulated"
    else []
)
SIMULATED_ROOT = "resources/simulated"
MANIFEST = (
    f"{SIMULATED_ROOT}/manifest.csv"
    if config["data"]["source"] == "simulated"
    else config["data"]["manifest"]
)


def snapshot(*names):
    """Config sections (plus the seed) as shell-quoted canonical JSON: the params of the step that
    writes them to a file, so editing a section reruns exactly what depends on that file.
    """
    content = {name: config[name] for name in names} if names else dict(config)
    content.setdefault("seed", config["seed"])
    return shlex.quote(json.dumps(content, sort_keys=True))


SNAPSHOTS = {"simulation": ("simulation",), "splits": ("splits",), "study": ()}


def tiles_args(wildcards):
    """CLI options of `nucflow tiles` from the {modality}-{planes}/{selection} wildcards."""
    selection = TileSelection.parse(wildcards.selection)
    # --modality stays second, so the command (a rerun trigger) is the one it always was
    split, *subset = selection.tiles_options()
    args = [split, f"--modality {wildcards.modality}", *subset]
    norm = config["normalisation"]
    method = "foreground" if selection.foreground else norm["method"]
    if wildcards.planes != "none":
        args.append(f"--planes {wildcards.planes.replace('.', ',')}")
    tiles = config["tiles"]
    args += [
        f"--size {tiles['size']}",
        f"--overlap {tiles['overlap']}",
        f"--normalisation {method}",
        "--percentiles {} {}".format(*norm["percentiles"]),
    ]
    return " ".join(args)


# ---- the plan: one row per training run ------------------------------------------------------
from nucflow.inference.window import FIXED_WINDOW
from nucflow.io import read_json
from nucflow.study.plan import (
    evaluation_methods,
    focal_candidates,
    focal_groups,
    focal_run_from_id,
    lr_find_keys,
    lr_find_run,
    plan_runs,
    run_config,
)

RUNS = {run.run_id: run for run in plan_runs(config)}
METHOD = config["postprocess"]["method"]
ARM_NAMES = list(config["arms"])
#: Arms whose runs get the per-run error attribution (the paper's analyses of the five models).
ATTRIBUTED_ARMS = ("model_comparison",)


def get_run(run_id):
    """The plan's run, or a focal-plane run of a later round (decided by a checkpoint)."""
    run = RUNS.get(run_id) or focal_run_from_id(config, run_id)
    if run is None:
        raise WorkflowError(f"run {run_id!r} is not in the plan (see results/plan.csv)")
    return run


def eval_set_key(text):
    """'seven_lines:test[:A+B]' (plan) -> 'seven_lines-test[-A+B]' (path)."""
    return EvalSet.parse(text).key


def eval_set_arg(key):
    """Path form back to the CLI form."""
    return EvalSet.parse(key).text


def run_tiles(wildcards):
    run = get_run(wildcards.run_id)
    return [*run.train_tiles, run.tiles(run.val_selection)]


def run_config_sources(wildcards):
    """Results a run's settings come from: the range test's rate, the smoothing arm's best factor."""
    run = get_run(wildcards.run_id)
    sources = {}
    if run.lr_source == "lr_find":
        sources["lr"] = f"results/lr_find/{run.model}-{run.modality}/lr.json"
    if run.smoothing_from:
        sources["smoothing"] = "results/tables/smoothing/best.json"
    return sources


def run_config_options(wildcards, input):
    options = []
    if "lr" in input.keys():
        options.append(f"--lr-from {input.lr}")
    if "smoothing" in input.keys():
        options.append(f"--smoothing-from {input.smoothing}")
    return " ".join(options)


def init_model(wildcards):
    return get_run(wildcards.run_id).init_from


def metrics_path(run_id, eval_set, method, name="per_image.csv"):
    return f"results/runs/{run_id}/metrics/{eval_set}/{method}/{name}"


def run_entries(run, select=False):
    """(run_id, eval_set_key, method) of a run's reported evaluations, or (select=True) of the
    validation evaluations used to choose between runs. A run that reuses an identical earlier
    run (``same_as``) is read from that run's folder."""
    if select:
        return [(run.source_id, eval_set_key(e), METHOD) for e in run.select_sets]
    return [
        (run.source_id, eval_set_key(e), m) for e in run.eval_sets for m in run.methods
    ]


# ---- focal planes: a greedy search over rounds, each decided by a checkpoint -------------------
def focal_search(model, seed, last_round=None):
    """(runs of rounds 1..last_round, chosen plane order after last_round), reading the choices
    of earlier rounds from their checkpoints."""
    rounds = (
        config["arms"]["focal_planes"]["rounds"] if last_round is None else last_round
    )
    chosen, runs = (), []
    for k in range(1, rounds + 1):
        runs += focal_candidates(config, model, seed, chosen)
        group = FocalGroup(model, seed).key
        folder = checkpoints.focal_round.get(group=group, round=k).output[0]
        chosen = tuple(read_json(f"{folder}/choice.json")["order"])
    return runs, chosen


def focal_round_metrics(wildcards):
    """Validation summaries of one round's candidates (the plane order so far from the checkpoints)."""
    group = FocalGroup.parse(wildcards.group)
    _, chosen = focal_search(group.model, group.seed, int(wildcards.round) - 1)
    runs = focal_candidates(config, group.model, group.seed, chosen)
    return [
        metrics_path(*e, "summary.json")
        for r in runs
        for e in run_entries(r, select=True)
    ]


def focal_round_dirs(wildcards=None):
    rounds = config["arms"]["focal_planes"]["rounds"]
    return [
        f"results/focal_planes/{FocalGroup(m, s).key}/round{k}"
        for m, s in focal_groups(config)
        for k in range(1, rounds + 1)
    ]


def arm_runs(arm):
    """Every run of an arm (for focal_planes: of every round, through the checkpoints)."""
    if arm == "focal_planes":
        return [
            r
            for model, seed in focal_groups(config)
            for r in focal_search(model, seed)[0]
        ]
    return [r for r in RUNS.values() if r.arm == arm]


def arm_entries(arm):
    return [e for r in arm_runs(arm) for e in run_entries(r)]


def arm_metrics(wildcards):
    return [metrics_path(*e) for e in arm_entries(wildcards.arm)]


def entries_of(paths):
    """'run/eval_set/method' of metrics files results/runs/<run>/metrics/<eval_set>/<method>/x."""
    return " ".join("/".join(Path(p).parts[2:3] + Path(p).parts[4:6]) for p in paths)


def smoothing_metrics(wildcards=None):
    runs = [r for r in RUNS.values() if r.arm == "smoothing"]
    return [
        metrics_path(*e, "summary.json")
        for r in runs
        for e in run_entries(r, select=True)
    ]


def inference_args(wildcards):
    settings = config["inference"]
    tta = " --tta" if settings["tta"] else ""
    args = f"--overlap {settings['overlap']} --batch-size {settings['batch_size']} --precision {settings['precision']}{tta}"
    if settings["window"] and get_run(wildcards.run_id).model not in FIXED_WINDOW:
        args += f" --window {settings['window']}"
    if "multiscale" in evaluation_methods(list(RUNS.values()), wildcards.run_id):
        args += " --scales " + " ".join(
            map(str, config["arms"]["extensions"]["scales"])
        )
    return args


def postprocess_params(wildcards):
    """--param options of a method: postprocess.params for the configured method, the extensions
    arm's overrides for multiscale."""
    if wildcards.method == METHOD:
        params = config["postprocess"]["params"]
    elif wildcards.method == "multiscale":
        params = config["arms"]["extensions"]["multiscale"]
    else:
        params = {}
    return " ".join(
        f"--param {k}={','.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in params.items()
    )


def tradeoff_files(wildcards=None):
    """Trade-off tables of the runs whose maps go through the multi-scale merge."""
    return [
        f"results/runs/{r}/metrics/{e}/multiscale/tradeoff.csv"
        for r, e, m in arm_entries("extensions")
        if m == "multiscale"
    ]


#: On a cluster (groups are ignored in local runs), every job of one run -- training or fine-tuning,
#: prediction, post-processing, evaluation, attribution -- is one submitted job: the short jobs ride
#: along with the long one instead of each waiting in the queue. Fine-tuned runs are groups of their
#: own (the group name carries the run id), so a source run is not bundled with its fine-tunings.
RUN_GROUP = "run-{run_id}"


#: GPUs per training / predict job; a retry asks for the same number (memory and runtime grow instead).
GPUS = config["training"]["gpus"]


ARMS_ON = [
    name
    for name in ARM_NAMES
    if config["arms"][name]["enabled"] and any(r.arm == name for r in RUNS.values())
]
LR_FIND = lr_find_keys(config)


def arm_targets(arm):
    """What `snakemake arm_<name>` builds."""
    if arm == "lr_range":
        return (
            [f"results/lr_find/{m}-{mod}/lr.json" for m, mod in LR_FIND]
            if config["arms"]["lr_range"]["enabled"]
            else []
        )
    if arm not in ARMS_ON:
        return []
    targets = [f"results/tables/{arm}/per_image.csv"]
    if arm in ATTRIBUTED_ARMS:
        targets.append(f"results/attribution/{arm}/tables")
    if arm == "smoothing":
        targets.append("results/tables/smoothing/best.json")
    if arm == "focal_planes":
        targets.append("results/tables/focal_planes/greedy.csv")
    if arm == "extensions" and tradeoff_files():
        targets.append("results/tables/extensions/multiscale_tradeoff.csv")
    return targets


def all_targets():
    """What `snakemake` builds by default: data, plan, every enabled arm, figures and summary."""
    targets = [
        "results/data/overview.png",
        "results/data/splits.json",
        "results/plan.csv",
    ]
    for arm in ARM_NAMES:
        targets += arm_targets(arm)
    targets += ["results/summary.md"]
    return targets


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
    return [
        f"results/runs/{models[m]}/prob/{wildcards.dataset}-test"
        for m in sorted(models)
    ]


def arm_attribution(wildcards):
    return [
        f"results/runs/{r}/attribution/{e}/{m}/tables"
        for r, e, m in arm_entries(wildcards.arm)
    ]


def arm_label_noise(wildcards):
    if wildcards.arm != "model_comparison":
        return []
    return [
        f"results/attribution/model_comparison/label_noise/{d}-s{s}"
        for d, s in sorted(label_noise_groups())
    ]


#: Arms whose tables the paper's claims are checked against (nucflow.attribution.claims).
CLAIM_ARMS = ("model_comparison", "data_size", "focal_planes", "transfer")


def claims_inputs(wildcards=None):
    """The result tables of the claim arms that are on (an arm that is off leaves its claims
    "not run"); attribution folders are not read."""
    return [
        t
        for arm in CLAIM_ARMS
        for t in arm_targets(arm)
        if t.startswith("results/tables/")
    ]


def figure_inputs():
    """The tables the figures read; figures of arms that are off are skipped by `nucflow figures`."""
    inputs = ["results/models.csv", "results/plan.csv", "results/config/study.json"]
    for arm in ARM_NAMES:
        inputs += arm_targets(arm)
    if claims_inputs():
        inputs.append("results/tables/claims.csv")
    return inputs
