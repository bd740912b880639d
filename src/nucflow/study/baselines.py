"""The baselines arm: methods outside the model registry (StarDist) trained on the model
comparison's own tiles and scored on its test images, so they sit beside the five networks.

A baseline is not a :class:`~nucflow.study.run.Run`: it is not trained by ``nucflow train`` and has
no ``run.json``. :func:`baseline_plan` lists one :class:`Baseline` per method x model-comparison
condition (data set x modality, optionally fewer modalities) x seed x fold; each names the tile
sets that the condition's networks train and validate on in that fold (the first model's run:
every model of a condition reads the same tiles) and the test set they are scored on. Torch-free:
the workflow imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from nucflow.errors import NucflowError
from nucflow.study.layout import EvalSet
from nucflow.study.plan import folds
from nucflow.study.run import Run
from nucflow.study.run_ids import BaselineId


@dataclass(frozen=True)
class Baseline:
    """One baseline model: ``method`` trained on ``train_tiles`` (validated on ``val_tiles``) and
    scored on ``eval_set`` (``dataset:test``)."""

    baseline_id: str
    method: str
    dataset: str
    modality: str
    planes: tuple[int, ...]
    seed: int
    train_tiles: str
    val_tiles: str
    eval_set: str
    fold: int = 0

    @property
    def eval_key(self) -> str:
        """The evaluation set in its path form (``lncap-test``)."""
        return EvalSet.parse(self.eval_set).key

    def tags(self) -> dict:
        """The plan-like columns of its rows in the result tables (``model`` is the method, so a
        figure that draws one column per model shows it as one more)."""
        return {"arm": "baselines", "dataset": self.dataset, "modality": self.modality,
                "planes": ".".join(map(str, self.planes)) or "none", "model": self.method, "variant": "plain",
                "seed": self.seed, "fold": self.fold, "eval_set": self.eval_key, "method": self.method,
                "eval_role": ""}


def baseline_plan(config: dict, runs: list[Run]) -> list[Baseline]:
    """The baselines of a validated config (empty when the arm is off). ``runs``: the plan's runs,
    whose model-comparison runs give each condition's tiles."""
    arm = config["arms"]["baselines"]
    if not arm["enabled"]:
        return []
    conditions: dict[tuple[str, str], dict[int | None, Run]] = {}
    with_folds = folds(config) != [None]
    for run in runs:
        if run.arm == "model_comparison":
            fold = run.fold if with_folds else None
            conditions.setdefault((run.dataset, run.modality), {}).setdefault(fold, run)
    if not conditions:
        raise NucflowError("arms.baselines: it trains on the model comparison's tiles, so arms.model_comparison "
                           "must be on")
    modalities = arm["modalities"] or sorted({m for _, m in conditions})
    missing = [m for m in modalities if not any(mod == m for _, mod in conditions)]
    if missing:
        raise NucflowError(f"arms.baselines.modalities: {missing[0]!r} is not a modality of the model comparison "
                           f"(arms.model_comparison.modalities)")
    seeds = list(arm["seeds"] or config["seeds"])
    baselines = []
    for method in arm["methods"]:
        for (dataset, modality), by_fold in conditions.items():
            if modality not in modalities:
                continue
            for seed in seeds:
                for fold, run in by_fold.items():
                    baselines.append(Baseline(BaselineId(method, modality, dataset, seed, fold).key, method, dataset,
                                              modality, run.planes, seed, run.train_tiles[0],
                                              run.tiles(run.val_selection), run.eval_sets[0], fold or 0))
    return baselines
