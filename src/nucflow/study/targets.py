"""What the workflow builds for a config, and the options of the commands its rules call.

The rule files only adapt wildcards to :class:`StudyTargets`: every file name a rule asks for, every
target of an arm and every option string is computed here, in plain Python that the tests call
without Snakemake. The one thing this module cannot know on its own is which focal planes earlier
rounds of the greedy search chose (a Snakemake checkpoint decides that); it asks a callable,
``focal_choice(group_key, round) -> plane order``, which the workflow backs with the checkpoint.

Paths are relative to the working directory of the study, as in the rules.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path

from nucflow.errors import NucflowError
from nucflow.inference.window import fixed_window
from nucflow.postprocess.registry import methods_reading
from nucflow.study.baselines import Baseline, baseline_plan
from nucflow.study.layout import LAYOUT, EvalSet, FocalGroup, PlaneSet, TileSelection, fold_suffix
from nucflow.study.method_choice import study_methods
from nucflow.study.plan import (evaluation_methods, focal_candidates, focal_groups, focal_run_from_id, folds,
                                frem_search_name, frem_search_run, frem_search_settings, lr_find_keys, plan_runs)
from nucflow.study.run import Run
from nucflow.study.run_ids import FremSearchId

SIMULATED_ROOT = "resources/simulated"
#: config sections (plus the seed) that each snapshot file holds; "study" is the whole config
SNAPSHOTS = {"simulation": ("simulation",), "splits": ("splits",), "study": ()}
#: arms whose runs get the per-run error attribution (the paper's analyses of the five models)
ATTRIBUTED_ARMS = ("model_comparison",)
#: arms whose tables the paper's claims are checked against (nucflow.report.claims)
CLAIM_ARMS = ("model_comparison", "data_size", "focal_planes", "transfer", "baselines")
#: the cluster group of every job of one run (training, prediction, post-processing, evaluation,
#: attribution): one submission per run. Fine-tuned runs have their own run id, so their own group.
RUN_GROUP = "run-{run_id}"


#: (section, key): default of config keys added after studies had begun; a snapshot leaves them
#: out while they have that default, so a finished study's snapshots (and so everything after
#: them) stay as they were
SNAPSHOT_LEFT_OUT_AT_DEFAULT = {("splits", "folds"): 1}


def snapshot(config: dict, *names: str) -> str:
    """Config sections (plus the seed) as shell-quoted canonical JSON, or the whole config when no
    section is named: the params of the step that writes them to a file, so editing a section
    reruns exactly what depends on that file. Keys of :data:`SNAPSHOT_LEFT_OUT_AT_DEFAULT` at their
    default are left out."""
    content = {name: config[name] for name in names} if names else dict(config)
    for (section, key), default in SNAPSHOT_LEFT_OUT_AT_DEFAULT.items():
        if section in content and isinstance(content[section], dict) and content[section].get(key) == default:
            content[section] = {k: v for k, v in content[section].items() if k != key}
    content.setdefault("seed", config["seed"])
    return shlex.quote(json.dumps(content, sort_keys=True))


def run_fold(run: Run) -> int | None:
    """The fold a run's names carry: None in a study with one split (``splits.folds: 1``)."""
    return TileSelection.parse(run.val_selection).fold


def manifest_path(config: dict) -> str:
    """The manifest the study reads: the simulated one, or the configured one."""
    return f"{SIMULATED_ROOT}/manifest.csv" if config["data"]["source"] == "simulated" else config["data"]["manifest"]


def simulated_datasets(config: dict) -> list[str]:
    return sorted(config["simulation"]["datasets"]) if config["data"]["source"] == "simulated" else []


def entries_of(paths) -> str:
    """``run/eval_set/method`` of metrics files ``results/runs/<run>/metrics/<eval_set>/<method>/x``,
    space-separated (the ``--entries`` of ``nucflow aggregate``)."""
    return " ".join("/".join(Path(p).parts[2:3] + Path(p).parts[4:6]) for p in paths)


def trained_of(paths) -> list[str]:
    """``train_done.json`` of the runs whose metrics files are ``paths`` (the aggregate step reads
    their ``log.csv`` and ``run.json``, complete once ``train_done.json`` is written)."""
    return sorted({LAYOUT.train_done(Path(p).parts[2]) for p in paths})


def param_options(params: dict) -> str:
    """The ``--params-json`` option of a method's parameters, shell-quoted ("" without any)."""
    return f"--params-json {shlex.quote(json.dumps(params, sort_keys=True))}" if params else ""


class StudyTargets:
    """The workflow's view of one validated config.

    Args:
        config: the validated config.
        focal_choice: ``(group_key, round) -> plane order`` chosen after that round of the greedy
            focal-plane search; needed only for the focal-plane arm's later rounds.
    """

    def __init__(self, config: dict, focal_choice: Callable[[str, int], tuple[int, ...]] | None = None):
        self.config = config
        self.runs: dict[str, Run] = {run.run_id: run for run in plan_runs(config)}
        self.method = config["postprocess"]["method"]
        self.arm_names = list(config["arms"])
        self.arms_on = [name for name in self.arm_names
                        if config["arms"][name]["enabled"] and any(r.arm == name for r in self.runs.values())]
        self.lr_find = lr_find_keys(config, list(self.runs.values()))  # the plan is built once per parse
        self.baselines = {b.baseline_id: b for b in baseline_plan(config, list(self.runs.values()))}
        self._focal_choice = focal_choice

    # ---- runs ------------------------------------------------------------------------------------
    def get_run(self, run_id: str) -> Run:
        """The plan's run, or a focal-plane run of a later round (decided by a checkpoint)."""
        run = self.runs.get(run_id) or focal_run_from_id(self.config, run_id)
        if run is None:
            raise NucflowError(f"run {run_id!r} is not in the plan (see results/plan.csv)")
        return run

    def run_tiles(self, run_id: str) -> list[str]:
        """The tile sets a run trains and validates on."""
        run = self.get_run(run_id)
        return [*run.train_tiles, run.tiles(run.val_selection)]

    def run_config_sources(self, run_id: str) -> dict[str, str]:
        """Results a run's settings come from: the range test's rate, the smoothing arm's best factor,
        the FREM search's chosen setting."""
        return self._sources(self.get_run(run_id))

    @staticmethod
    def _sources(run: Run) -> dict[str, str]:
        sources = {}
        if run.lr_source == "lr_find":
            sources["lr"] = LAYOUT.lr_find_result(run.model, run.modality)
        if run.smoothing_from:
            sources["smoothing"] = LAYOUT.arm_table("smoothing", "best.json")
        if run.frem_from:
            sources["frem"] = LAYOUT.frem_search_result(run.frem_from, "best.json")
        return sources

    @staticmethod
    def run_config_options(sources: dict[str, str]) -> str:
        """``nucflow run-config`` options that read the sources of :meth:`run_config_sources`."""
        options = []
        if "lr" in sources:
            options.append(f"--lr-from {sources['lr']}")
        if "smoothing" in sources:
            options.append(f"--smoothing-from {sources['smoothing']}")
        if "frem" in sources:
            options.append(f"--frem-from {sources['frem']}")
        return " ".join(options)

    # ---- the FREM search: one study per config, its base run written like any run.json ----------
    def frem_searches(self) -> list[str]:
        """The names of the config's FREM searches, one per fold (none when the arm is off)."""
        if not self.config["arms"]["frem_search"]["enabled"]:
            return []
        return [frem_search_name(self.config, fold) for fold in folds(self.config)]

    def frem_search_base(self, search: str) -> Run:
        if search not in self.frem_searches():
            raise NucflowError(f"FREM search {search!r} is not one of this config's "
                               f"({', '.join(self.frem_searches()) or 'arm off'})")
        found = FremSearchId.SEARCH.match(search)
        return frem_search_run(self.config, int(found["fold"]) if found["fold"] else None)

    def frem_search_sources(self, search: str) -> dict[str, str]:
        """Results the search's base run takes its settings from (a range test's rate)."""
        return self._sources(self.frem_search_base(search))

    def frem_search_tiles(self, search: str) -> list[str]:
        run = self.frem_search_base(search)
        return [*run.train_tiles, run.tiles(run.val_selection)]

    def frem_search_settings(self) -> str:
        """``--settings-json`` of ``nucflow frem-search``, shell-quoted (a change reruns the search)."""
        return shlex.quote(json.dumps(frem_search_settings(self.config), sort_keys=True))

    def frem_search_outputs(self) -> list[str]:
        return [LAYOUT.frem_search_result(search, n) for search in self.frem_searches()
                for n in ("trials.csv", "best.json")]

    def run_entries(self, run: Run, select: bool = False) -> list[tuple[str, str, str]]:
        """(run_id, eval_set_key, method) of a run's reported evaluations, or (``select``) of the
        validation evaluations used to choose between runs. A run that reuses an identical earlier
        run (``same_as``) is read from that run's folder."""
        if select:
            return [(run.source_id, EvalSet.parse(e).key, self.method) for e in run.select_sets]
        return [(run.source_id, EvalSet.parse(e).key, m) for e in run.eval_sets for m in run.methods]

    # ---- focal planes: a greedy search over rounds, each decided by a checkpoint -------------------
    def focal_search(self, model: str, seed: int, last_round: int | None = None,
                     fold: int | None = None) -> tuple[list[Run], tuple[int, ...]]:
        """(runs of rounds 1..last_round, plane order chosen after last_round) of one search."""
        rounds = self.config["arms"]["focal_planes"]["rounds"] if last_round is None else last_round
        chosen, runs = (), []
        for k in range(1, rounds + 1):
            runs += focal_candidates(self.config, model, seed, chosen, fold)
            if self._focal_choice is None:
                raise NucflowError("the focal-plane search needs the choices of its earlier rounds")
            chosen = tuple(self._focal_choice(FocalGroup(model, seed, fold).key, k))
        return runs, chosen

    def focal_round_metrics(self, group_key: str, round_: int) -> list[str]:
        """Validation summaries of one round's candidates."""
        group = FocalGroup.parse(group_key)
        _, chosen = self.focal_search(group.model, group.seed, round_ - 1, group.fold)
        runs = focal_candidates(self.config, group.model, group.seed, chosen, group.fold)
        return [LAYOUT.metrics(*e, "summary.json") for r in runs for e in self.run_entries(r, select=True)]

    def focal_round_dirs(self) -> list[str]:
        rounds = self.config["arms"]["focal_planes"]["rounds"]
        return [LAYOUT.focal_round(FocalGroup(m, s, f).key, k) for m, s, f in focal_groups(self.config)
                for k in range(1, rounds + 1)]

    # ---- arms --------------------------------------------------------------------------------------
    def arm_runs(self, arm: str) -> list[Run]:
        """Every run of an arm (for focal_planes: of every round, through the choices)."""
        if arm == "focal_planes":
            return [r for model, seed, fold in focal_groups(self.config)
                    for r in self.focal_search(model, seed, fold=fold)[0]]
        return [r for r in self.runs.values() if r.arm == arm]

    def arm_entries(self, arm: str) -> list[tuple[str, str, str]]:
        return [e for r in self.arm_runs(arm) for e in self.run_entries(r)]

    def arm_metrics(self, arm: str) -> list[str]:
        return [LAYOUT.metrics(*e) for e in self.arm_entries(arm)]

    def arm_attribution(self, arm: str) -> list[str]:
        return [LAYOUT.run_attribution(r, e, m, "tables") for r, e, m in self.arm_entries(arm)]

    def smoothing_runs(self) -> dict[str, dict]:
        """The smoothing arm's runs for ``nucflow choose smoothing --runs``: {run_id: {model, factor}},
        with the run's ``fold`` in a study with folds (a factor is chosen per model and fold)."""
        return {r.run_id: {"model": r.model, "factor": r.smoothing,
                           **({"fold": r.fold} if run_fold(r) is not None else {})}
                for r in self.runs.values() if r.arm == "smoothing"}

    def smoothing_metrics(self) -> list[str]:
        runs = [r for r in self.runs.values() if r.arm == "smoothing"]
        return [LAYOUT.metrics(*e, "summary.json") for r in runs for e in self.run_entries(r, select=True)]

    def tradeoff_files(self) -> list[str]:
        """Trade-off tables of the runs whose maps go through the multi-scale merge."""
        scales = methods_reading("scales")
        return [LAYOUT.metrics(r, e, m, "tradeoff.csv") for r, e, m in self.arm_entries("extensions")
                if m in scales]

    #: arms whose trained runs get an instance method chosen on validation (choose_method)
    CHOICE_ARMS = ("model_comparison", "extensions")

    def method_choice_runs(self, arm: str | None = None) -> list[str]:
        """Runs whose instance method is chosen on validation (``arms.extensions.choose_method``),
        each trained model once: the model comparison's runs and the extensions baseline; ``arm``:
        only that arm's."""
        extensions = self.config["arms"]["extensions"]
        if not (extensions["enabled"] and extensions["choose_method"]):
            return []
        runs = [r for r in self.runs.values() if (r.arm == "model_comparison"
                or (r.arm == "extensions" and r.variant == "baseline")) and arm in (None, r.arm)]
        return list(dict.fromkeys(r.source_id for r in runs))

    def choice_eval_set(self, run_id: str) -> str:
        """The validation images a run's instance method is chosen on: its data set's val split (of
        its fold)."""
        run = self.get_run(run_id)
        return EvalSet(run.dataset, "val", fold=run_fold(run)).text

    def choice_methods(self) -> str:
        """The candidates with their parameters, as JSON (a rule parameter: a change reruns the choice)."""
        return json.dumps(study_methods(self.config), sort_keys=True)

    # ---- baselines (StarDist): trained on the model comparison's tiles, not planned runs -------------
    def get_baseline(self, baseline_id: str) -> Baseline:
        if baseline_id not in self.baselines:
            raise NucflowError(f"baseline {baseline_id!r} is not in the study (arms.baselines)")
        return self.baselines[baseline_id]

    def baseline_metrics(self, name: str = "per_image.csv") -> list[str]:
        return [LAYOUT.baseline_metrics(b.baseline_id, b.eval_key, name) for b in self.baselines.values()]

    def baseline_tags(self) -> str:
        """The ``--baselines`` JSON of ``nucflow baseline table``: each baseline's table columns."""
        return json.dumps({i: b.tags() for i, b in self.baselines.items()}, sort_keys=True)

    def baseline_command(self) -> str:
        """``nucflow baseline``, or ``<python> -m nucflow baseline`` with ``arms.baselines.python``."""
        python = self.config["arms"]["baselines"]["python"]
        return f"{shlex.quote(python)} -m nucflow baseline" if python else "nucflow baseline"

    def baseline_train_args(self, baseline_id: str) -> str:
        arm = self.config["arms"]["baselines"]
        return (f"--epochs {arm['epochs']} --steps-per-epoch {arm['steps_per_epoch']} "
                f"--batch-size {arm['batch_size']} --seed {self.get_baseline(baseline_id).seed}")

    def arm_targets(self, arm: str) -> list[str]:
        """What ``snakemake arm_<name>`` builds."""
        if arm == "baselines":
            return ([LAYOUT.arm_table("baselines"), LAYOUT.arm_table("baselines", "per_object.csv")]
                    if self.baselines else [])
        if arm == "lr_range":
            return ([LAYOUT.lr_find_result(m, mod) for m, mod in self.lr_find]
                    if self.config["arms"]["lr_range"]["enabled"] else [])
        if arm not in self.arms_on:
            return []
        targets = [LAYOUT.arm_table(arm), LAYOUT.arm_table(arm, "learning_curves.csv"),
                   LAYOUT.arm_table(arm, "convergence.csv")]
        if arm in ATTRIBUTED_ARMS:
            targets.append(LAYOUT.arm_attribution(arm))
        if arm == "smoothing":
            targets.append(LAYOUT.arm_table("smoothing", "best.json"))
        if arm == "focal_planes":
            targets.append(LAYOUT.arm_table("focal_planes", "greedy.csv"))
        if arm == "frem_search":
            targets += self.frem_search_outputs()
        if arm == "extensions" and self.tradeoff_files():
            targets.append(LAYOUT.arm_table("extensions", "multiscale_tradeoff.csv"))
        if arm in self.CHOICE_ARMS and self.method_choice_runs(arm):
            targets.append(LAYOUT.arm_table(arm, "method_choice.csv"))
        return targets

    def all_targets(self) -> list[str]:
        """What ``snakemake`` builds by default: data, plan, every enabled arm, figures and summary."""
        targets = [LAYOUT.data("overview.png"), LAYOUT.data("splits.json"), LAYOUT.plan_table()]
        for arm in self.arm_names:
            targets += self.arm_targets(arm)
        return targets + [LAYOUT.summary()]

    # ---- label noise, claims, figures ----------------------------------------------------------------
    def label_noise_groups(self) -> dict[tuple[str, str], dict[str, str]]:
        """(dataset, seed key) -> {model: run_id} of fluorescence model-comparison runs; the seed
        key is the seed (``0``), with folds the seed and fold (``0-f1``: the models are compared on
        one fold's test images). Only groups with at least five models can carry the paper's
        4-of-5 estimate."""
        groups: dict[tuple[str, str], dict[str, str]] = {}
        for run in self.runs.values():
            if run.arm == "model_comparison" and run.modality == "fluorescence":
                key = f"{run.seed}{fold_suffix(run_fold(run))}"
                groups.setdefault((run.dataset, key), {})[run.model] = run.run_id
        return {key: models for key, models in groups.items() if len(models) >= 5}

    def label_noise_models(self, dataset: str, seed) -> list[str]:
        return sorted(self.label_noise_groups()[(dataset, str(seed))])

    def label_noise_inputs(self, dataset: str, seed) -> list[str]:
        models = self.label_noise_groups()[(dataset, str(seed))]
        fold = self.runs[next(iter(models.values()))]
        return [LAYOUT.prob_dir(models[m], EvalSet(dataset, "test", fold=run_fold(fold)).key) for m in sorted(models)]

    def arm_label_noise(self, arm: str) -> list[str]:
        if arm != "model_comparison":
            return []
        return [LAYOUT.label_noise(d, s) for d, s in sorted(self.label_noise_groups())]

    def claims_inputs(self) -> list[str]:
        """The result tables of the claim arms that are on (an arm that is off leaves its claims
        "not run"); attribution folders and the instance-method choices are not read."""
        tables = f"{LAYOUT.root}/tables/"
        return [t for arm in CLAIM_ARMS for t in self.arm_targets(arm)
                if t.startswith(tables) and not t.endswith("/method_choice.csv")]

    def figure_inputs(self) -> list[str]:
        """The tables the figures read; figures of arms that are off are skipped by ``nucflow figures``."""
        inputs = [LAYOUT.models_table(), LAYOUT.plan_table(), LAYOUT.config_snapshot("study")]
        for arm in self.arm_names:
            inputs += self.arm_targets(arm)
        if self.claims_inputs():
            inputs.append(LAYOUT.claims())
        return inputs

    # ---- command options ------------------------------------------------------------------------------
    def tiles_args(self, modality: str, planes: str, selection: str) -> str:
        """``nucflow tiles`` options of the ``{modality}-{planes}/{selection}`` wildcards."""
        chosen = TileSelection.parse(selection)
        # --modality stays second, so the command (a rerun trigger) is the one it always was
        split, *subset = chosen.tiles_options()
        args = [split, f"--modality {modality}", *subset]
        norm = self.config["normalisation"]
        method = "foreground" if chosen.foreground else norm["method"]
        if PlaneSet.parse(planes).planes:
            args.append(f"--planes {PlaneSet.parse(planes).option}")
        tiles = self.config["tiles"]
        args += [f"--size {tiles['size']}", f"--overlap {tiles['overlap']}", f"--normalisation {method}",
                 "--percentiles {} {}".format(*norm["percentiles"])]
        return " ".join(args)

    def inference_args(self, run_id: str, scales: bool = True) -> str:
        """``nucflow predict`` options of a run (study mode); ``scales=False`` leaves out the
        multi-scale maps (for commands that read only the plain map)."""
        settings = self.config["inference"]
        tta = " --tta" if settings["tta"] else ""
        args = (f"--overlap {settings['overlap']} --batch-size {settings['batch_size']} "
                f"--precision {settings['precision']}{tta}")
        if settings["window"] and not fixed_window(self.get_run(run_id).model):
            args += f" --window {settings['window']}"
        if scales and "multiscale" in evaluation_methods(list(self.runs.values()), run_id):
            args += " --scales " + " ".join(map(str, self.config["arms"]["extensions"]["scales"]))
        return args

    def postprocess_params(self, method: str) -> str:
        """The ``--params-json`` option of a method: postprocess.params for the configured method, the
        extensions arm's overrides for multiscale."""
        if method == self.method:
            params = self.config["postprocess"]["params"]
        elif method == "multiscale":
            params = self.config["arms"]["extensions"]["multiscale"]
        else:
            params = {}
        return param_options(params)
