"""Names the study writes into paths, each with one way to write it and one way to read it back.

* :class:`TileSelection`: which images of a split a tile set holds, as the last part of its path
  ``results/tiles/<dataset>/<modality>-<planes>/<key>.npz``:
  ``[f<fold>-]split[-n<N>][-lines<A+B> | -ex<A+B>][-fg]`` (``train-n16-linesA549-fg``: the first 16
  training images of A549, foreground-normalised; ``f2-train-n16-linesA549``: the same of fold 2).
* :class:`EvalSet`: the images a run is scored on. On the command line and in the plan
  ``dataset[:f<fold>]:split[:A+B | :exA+B]``; in paths (``metrics/<key>/``) the same with ``-``.

The fold (``splits.folds`` k > 1, 0-based) is part of a name only when the study has folds, so a
study with one split (k = 1) keeps the names it always had.

Data set names hold letters, digits and ``_`` only, and cell-line names letters and digits, so
neither form is ambiguous. Torch-free and cheap: the workflow imports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from nucflow.errors import NucflowError

SPLITS = ("train", "val", "test")

# Wildcard patterns of the workflow (Snakemake wildcard_constraints), kept beside the parsers.
#: a tile selection key, as :meth:`TileSelection.key` writes it
SELECTION_PATTERN = r"(f\d+-)?(train|val|test)(-n\d+)?(-(lines|ex)[A-Za-z0-9+]+)?(-fg)?"
#: an evaluation set in path form, as :attr:`EvalSet.key` writes it
EVAL_SET_PATTERN = r"[A-Za-z0-9_]+(-f\d+)?-(train|val|test)(-[A-Za-z0-9+]+)?"
#: any run id: dash-separated parts of letters, digits, ``_ . +``
RUN_ID_PATTERN = r"[A-Za-z0-9_.+]+(-[A-Za-z0-9_.+]+)*"
#: a focal-plane search group, as :attr:`FocalGroup.key` writes it
FOCAL_GROUP_PATTERN = r"[a-z0-9]+-s\d+(-f\d+)?"
#: a label-noise group's seed part (``0``, or ``0-f2`` in a study with folds)
LABEL_NOISE_SEED_PATTERN = r"\d+(-f\d+)?"

_SELECTION = re.compile(r"^(?:f(?P<fold>\d+)-)?(?P<split>train|val|test)(?:-n(?P<n>\d+))?"
                        r"(?:-(?P<kind>lines|ex)(?P<names>[A-Za-z0-9]+(?:\+[A-Za-z0-9]+)*))?(?P<fg>-fg)?$")
_EVAL_SET = re.compile(r"^(?P<dataset>[A-Za-z0-9_]+)(?:[:-]f(?P<fold>\d+))?[:-](?P<split>train|val|test)"
                       r"(?:[:-](?P<ex>ex)?(?P<names>[A-Za-z0-9]+(?:\+[A-Za-z0-9]+)*))?$")


@dataclass(frozen=True)
class PlaneSet:
    """The brightfield planes a network takes, in input order (repeats allowed: a 9-channel input
    of planes 4 and 2 is ``4,2,4,2,...``); empty for fluorescence. Its spellings, each made here:

    * :attr:`key`: paths, wildcards and tables, ``4.2.4.2`` (``none`` when empty);
    * :attr:`option`: the ``--planes`` value of ``nucflow tiles`` / ``predict``, ``4,2,4,2``;
    * :attr:`label`: what a reader sees, ``{4, 2}``.
    """

    planes: tuple[int, ...] = ()

    def __post_init__(self):
        if any(p < 0 for p in self.planes):
            raise NucflowError(f"planes {self.planes}: plane numbers start at 0")

    @property
    def key(self) -> str:
        return ".".join(map(str, self.planes)) if self.planes else "none"

    @property
    def option(self) -> str:
        return ",".join(map(str, self.planes))

    @property
    def label(self) -> str:
        return "{" + ", ".join(map(str, self.planes)) + "}"

    def order(self) -> PlaneSet:
        """The distinct planes in order of first appearance (``4.2.4.2`` -> ``4.2``)."""
        return PlaneSet(tuple(dict.fromkeys(self.planes)))

    @classmethod
    def parse(cls, key: str) -> PlaneSet:
        """From :attr:`key` (``4.2``, ``none``)."""
        return cls._from(str(key), ".", "planes")

    @classmethod
    def parse_option(cls, text: str) -> PlaneSet:
        """From :attr:`option` (``4,2``), as a user types it after ``--planes``."""
        return cls._from(text, ",", "--planes")

    @classmethod
    def _from(cls, text: str, separator: str, where: str) -> PlaneSet:
        if text in ("none", ""):
            return cls()
        try:
            planes = tuple(int(part) for part in text.split(separator))
        except ValueError:
            example = separator.join(("0", "4", "8"))
            raise NucflowError(f"{where} {text!r}: expected plane numbers separated by {separator!r}, "
                               f"e.g. {example}") from None
        if any(p < 0 for p in planes):
            raise NucflowError(f"{where} {text!r}: plane numbers start at 0")
        return cls(planes)


@dataclass(frozen=True)
class TileSelection:
    """``split`` (of fold ``fold`` in a study with folds), optionally the first ``n`` images, only
    ``lines`` or all but ``exclude_lines``, and ``foreground`` normalisation."""

    split: str
    n: int | None = None
    lines: tuple[str, ...] = ()
    exclude_lines: tuple[str, ...] = ()
    foreground: bool = False
    fold: int | None = None

    def __post_init__(self):
        if self.split not in SPLITS:
            raise NucflowError(f"tile selection: split {self.split!r} is not one of {', '.join(SPLITS)}")
        if self.lines and self.exclude_lines:
            raise NucflowError("tile selection: give lines or exclude_lines, not both")

    @property
    def key(self) -> str:
        parts = [self.split] if self.fold is None else [f"f{self.fold}", self.split]
        if self.n is not None:
            parts.append(f"n{self.n}")
        if self.lines:
            parts.append("lines" + "+".join(self.lines))
        elif self.exclude_lines:
            parts.append("ex" + "+".join(self.exclude_lines))
        if self.foreground:
            parts.append("fg")
        return "-".join(parts)

    @classmethod
    def parse(cls, key: str) -> TileSelection:
        match = _SELECTION.match(key)
        if match is None:
            raise NucflowError(f"tile selection {key!r}: expected [fK-]split[-nN][-linesA+B | -exA+B][-fg]")
        names = tuple(match["names"].split("+")) if match["names"] else ()
        return cls(match["split"], n=int(match["n"]) if match["n"] else None,
                   lines=names if match["kind"] == "lines" else (),
                   exclude_lines=names if match["kind"] == "ex" else (), foreground=bool(match["fg"]),
                   fold=int(match["fold"]) if match["fold"] else None)

    def with_foreground(self) -> TileSelection:
        return replace(self, foreground=True)

    def tiles_options(self) -> list[str]:
        """The ``nucflow tiles`` options that select these images (normalisation aside)."""
        options = [f"--split {self.split}"]
        if self.n is not None:
            options.append(f"--n {self.n}")
        if self.lines:
            options.append(f"--lines {' '.join(self.lines)}")
        if self.exclude_lines:
            options.append(f"--exclude-lines {' '.join(self.exclude_lines)}")
        if self.fold is not None:
            options.append(f"--fold {self.fold}")
        return options


@dataclass(frozen=True)
class EvalSet:
    """The ``split`` images of ``dataset`` (of fold ``fold`` in a study with folds), optionally only
    ``lines`` or all but ``exclude_lines``."""

    dataset: str
    split: str
    lines: tuple[str, ...] = ()
    exclude_lines: tuple[str, ...] = ()
    fold: int | None = None

    def _parts(self) -> list[str]:
        parts = [self.dataset, self.split] if self.fold is None else [self.dataset, f"f{self.fold}", self.split]
        if self.lines:
            parts.append("+".join(self.lines))
        elif self.exclude_lines:
            parts.append("ex" + "+".join(self.exclude_lines))
        return parts

    @property
    def text(self) -> str:
        """Command-line and plan form: ``seven_lines:test:exA549``."""
        return ":".join(self._parts())

    @property
    def key(self) -> str:
        """Path form: ``seven_lines-test-exA549`` (``seven_lines-f1-test-exA549`` in fold 1)."""
        return "-".join(self._parts())

    def image_ids(self, splits: dict, frame) -> list[str]:
        """The ids of these images in ``splits`` (``splits.json``) and the manifest table ``frame``."""
        from nucflow.data.split import select

        return select(splits, frame, self.dataset, self.split, lines=list(self.lines) or None,
                      exclude_lines=list(self.exclude_lines) or None, fold=self.fold)

    def without_fold(self) -> EvalSet:
        """The same images in every fold: what tables pool over folds (``seven_lines-test``)."""
        return replace(self, fold=None)

    @classmethod
    def parse(cls, value: str) -> EvalSet:
        """Either form. A line list starting with ``ex`` excludes those lines (no line is named ex...)."""
        match = _EVAL_SET.match(value)
        if match is None:
            raise NucflowError(f"--eval-set {value!r}: expected dataset:split, dataset:split:Line1+Line2"
                               " or dataset:split:exLine1+Line2 (dataset:fK:split... for fold K)")
        names = tuple(match["names"].split("+")) if match["names"] else ()
        return cls(match["dataset"], match["split"], lines=() if match["ex"] else names,
                   exclude_lines=names if match["ex"] else (), fold=int(match["fold"]) if match["fold"] else None)


_FOCAL_RUN = re.compile(r"^focal_planes-(?P<model>[a-z0-9]+)-(?P<dataset>[A-Za-z0-9_]+)-r(?P<round>\d+)"
                        r"-p(?P<order>\d+(?:\.\d+)*)-s(?P<seed>\d+)(?:-f(?P<fold>\d+))?$")
_ROUND = re.compile(r"^round(?P<round>\d+)$")
_FOCAL_GROUP = re.compile(r"^(?P<model>[a-z0-9]+)-s(?P<seed>\d+)(?:-f(?P<fold>\d+))?$")


def fold_suffix(fold: int | None) -> str:
    """The ``-f<fold>`` that ends a run id or group key in a study with folds; "" without."""
    return "" if fold is None else f"-f{fold}"


@dataclass(frozen=True)
class FocalRunId:
    """A run of the greedy focal-plane search: ``model`` on ``dataset`` with the distinct input
    planes ``order`` (the last one is the candidate of round ``len(order)``), seed ``seed``, fold
    ``fold`` (None without folds). Key: ``focal_planes-unet-seven_lines-r2-p4.0-s0`` (``...-s0-f1``)."""

    model: str
    dataset: str
    order: tuple[int, ...]
    seed: int
    fold: int | None = None

    @property
    def round(self) -> int:
        return len(self.order)

    @property
    def key(self) -> str:
        return (f"focal_planes-{self.model}-{self.dataset}-r{self.round}-p{'.'.join(map(str, self.order))}"
                f"-s{self.seed}{fold_suffix(self.fold)}")

    @classmethod
    def parse(cls, run_id: str) -> FocalRunId | None:
        """The focal-plane run named ``run_id``, or None when it names no such run (another arm's
        run, or a round number that disagrees with its plane order)."""
        match = _FOCAL_RUN.match(run_id)
        if match is None:
            return None
        order = tuple(int(p) for p in match["order"].split("."))
        if int(match["round"]) != len(order):
            return None
        return cls(match["model"], match["dataset"], order, int(match["seed"]),
                   int(match["fold"]) if match["fold"] else None)


@dataclass(frozen=True)
class FocalGroup:
    """One greedy focal-plane search (``model``, ``seed``, ``fold``); key ``unet-s0`` (``unet-s0-f1``
    in fold 1) names its folder (:meth:`Layout.focal_round`)."""

    model: str
    seed: int
    fold: int | None = None

    @property
    def key(self) -> str:
        return f"{self.model}-s{self.seed}{fold_suffix(self.fold)}"

    @classmethod
    def parse(cls, key: str) -> FocalGroup:
        match = _FOCAL_GROUP.match(key)
        if match is None:
            raise NucflowError(f"focal-plane group {key!r}: expected <model>-s<seed>[-f<fold>]")
        return cls(match["model"], int(match["seed"]), int(match["fold"]) if match["fold"] else None)

    @staticmethod
    def round_of(folder: str | Path) -> int:
        """The round of a ``round<k>`` folder; anything else is a one-line error."""
        match = _ROUND.match(Path(folder).name)
        if match is None:
            raise NucflowError(f"{folder}: expected a round<k> folder")
        return int(match["round"])


@dataclass(frozen=True)
class Layout:
    """Where every result of a study lives, below ``root`` (``results``, relative to the study's
    working directory). Each method takes names (a run id, an :class:`EvalSet` key, ...) and returns
    the path as a string; given Snakemake wildcards such as ``"{run_id}"`` it returns the rule's
    pattern, so the rules and the Python code spell each path once, here.
    """

    root: str = "results"

    # ---- the data stage ----------------------------------------------------------------------------
    def config_snapshot(self, section: str) -> str:
        return f"{self.root}/config/{section}.json"

    def data(self, name: str) -> str:
        """``splits.json``, ``overview.png`` / ``.pdf``, ``manifest_check.txt``."""
        return f"{self.root}/data/{name}"

    def tiles(self, dataset: str, modality: str, planes: str, selection: str, suffix: str = ".npz") -> str:
        """A tile set (``suffix`` ``.aug.npz`` for its augmented copy)."""
        return f"{self.root}/tiles/{dataset}/{modality}-{planes}/{selection}{suffix}"

    # ---- the plan and the runs -------------------------------------------------------------------------
    def plan_table(self) -> str:
        return f"{self.root}/plan.csv"

    def run_json(self, run_id: str) -> str:
        """The settings of one run as the plan gives them (input of training)."""
        return f"{self.root}/plan/runs/{run_id}.json"

    def lr_find_json(self, model: str, modality: str) -> str:
        return f"{self.root}/plan/lr_find/{model}-{modality}.json"

    def lr_find_root(self) -> str:
        """The folder of every range test."""
        return f"{self.root}/lr_find"

    def lr_find_dir(self, model: str, modality: str) -> str:
        """``curve.csv``, ``curve.png``, ``lr.json`` of one range test."""
        return f"{self.lr_find_root()}/{model}-{modality}"

    def lr_find_result(self, model: str, modality: str, name: str = "lr.json") -> str:
        return f"{self.lr_find_dir(model, modality)}/{name}"

    def frem_search_json(self, search: str) -> str:
        """The base run every trial of a FREM search trains (``search``: :attr:`FremSearchId.search`)."""
        return f"{self.root}/plan/frem_search/{search}.json"

    def frem_search_dir(self, search: str) -> str:
        """``study.db``, ``trials/``, ``search.json``, ``trials.csv`` and ``best.json`` of one FREM search."""
        return f"{self.root}/frem_search/{search}"

    def frem_search_result(self, search: str, name: str = "best.json") -> str:
        return f"{self.frem_search_dir(search)}/{name}"

    def runs_root(self) -> str:
        """The folder of every run folder."""
        return f"{self.root}/runs"

    def run_dir(self, run_id: str) -> str:
        return f"{self.runs_root()}/{run_id}"

    # ---- baselines (methods outside the model registry, e.g. StarDist) --------------------------------
    def baseline_dir(self, baseline_id: str) -> str:
        """A baseline's folder: ``model/`` (the method's own files), ``labels/`` and ``metrics/``."""
        return f"{self.root}/baselines/{baseline_id}"

    def baseline_model(self, baseline_id: str) -> str:
        return f"{self.baseline_dir(baseline_id)}/model"

    def baseline_labels(self, baseline_id: str, eval_set: str) -> str:
        """Instance labels of a baseline on an evaluation set (``eval_set`` in its path form)."""
        return f"{self.baseline_dir(baseline_id)}/labels/{eval_set}"

    def baseline_metrics(self, baseline_id: str, eval_set: str, name: str = "per_image.csv") -> str:
        return f"{self.baseline_dir(baseline_id)}/metrics/{eval_set}/{name}"

    def model(self, run_id: str) -> str:
        return f"{self.run_dir(run_id)}/model.pt"

    def train_done(self, run_id: str) -> str:
        return f"{self.run_dir(run_id)}/train_done.json"

    def method_record(self, run_id: str) -> str:
        """The instance method chosen for a run on validation images (read by predict and export)."""
        return f"{self.run_dir(run_id)}/instance_method.json"

    def method_choice(self, run_id: str, name: str = "method_choice.csv") -> str:
        """``method_choice.csv`` (one row per candidate) or ``method_choice_images.csv`` of a run."""
        return f"{self.run_dir(run_id)}/{name}"

    def prob_dir(self, run_id: str, eval_set: str) -> str:
        """Probability maps of a run on an evaluation set (``eval_set`` in its path form)."""
        return f"{self.run_dir(run_id)}/prob/{eval_set}"

    def instances_dir(self, run_id: str, eval_set: str, method: str) -> str:
        return f"{self.run_dir(run_id)}/instances/{eval_set}/{method}"

    def metrics(self, run_id: str, eval_set: str, method: str, name: str = "per_image.csv") -> str:
        """``per_image.csv``, ``per_object.csv``, ``pred_objects.csv``, ``summary.json``, ``tradeoff.csv``."""
        return f"{self.run_dir(run_id)}/metrics/{eval_set}/{method}/{name}"

    def run_attribution(self, run_id: str, eval_set: str, method: str, part: str) -> str:
        """``tables`` or ``artifacts`` folder of one evaluation's error attribution."""
        return f"{self.run_dir(run_id)}/attribution/{eval_set}/{method}/{part}"

    # ---- an arm's results ------------------------------------------------------------------------------
    def arm_tables(self, arm: str) -> str:
        """The folder of an arm's tables (also ``compute``, the study's costs)."""
        return f"{self.root}/tables/{arm}"

    def arm_table(self, arm: str, name: str = "per_image.csv") -> str:
        return f"{self.arm_tables(arm)}/{name}"

    def arm_attribution(self, arm: str) -> str:
        return f"{self.root}/attribution/{arm}/tables"

    def label_noise(self, dataset: str, seed) -> str:
        """One (data set, seed) group's label-noise folder; ``seed`` is ``0`` or, with folds, ``0-f1``."""
        return f"{self.root}/attribution/model_comparison/label_noise/{dataset}-s{seed}"

    def focal_round(self, group: str, round_) -> str:
        """The folder of one round's choice (``choice.json``) of a focal-plane search."""
        return f"{self.root}/focal_planes/{group}/round{round_}"

    def claims(self) -> str:
        return f"{self.root}/tables/claims.csv"

    def summary(self) -> str:
        return f"{self.root}/summary.md"

    def models_table(self) -> str:
        return f"{self.root}/models.csv"

    def figures_dir(self) -> str:
        return f"{self.root}/figures"

    def figure(self, stem: str, extension: str = "png") -> str:
        return f"{self.figures_dir()}/{stem}.{extension}"

    def figure_tables(self, stem: str = "") -> str:
        """The folder of the intervals the figures draw (``stem``: one figure's folder)."""
        return f"{self.root}/tables/figures" + (f"/{stem}" if stem else "")

    def figure_table(self, stem: str, name: str) -> str:
        return f"{self.figure_tables(stem)}/{name}.csv"


#: the layout of a study run in its working directory (what the workflow and the commands use)
LAYOUT = Layout()
