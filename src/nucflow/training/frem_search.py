"""The FREM settings search: a Tree-structured Parzen Estimator (optuna) over ``B`` (channels) and
``X`` (factor), each trial an ordinary training run scored on the validation split.

What one search does (``nucflow frem-search``, the workflow's ``frem_search`` rule):

- **Trials.** Each trial trains the search's base run (``run.json``: model, data, seed, training
  settings) with ``frem = {"channels": B, "factor": X}`` through :func:`nucflow.training.train.train`,
  the trainer every run of the study uses, in ``<out>/trials/<number>/``. ``B`` is an integer in
  ``[channels_min, channels_max]`` (``channels_max`` ``None``: ``C``, the channel count of the feature
  map FREM enhances, read from the model); ``X`` a float in ``[factor_min, factor_max]`` on a log
  scale. Every trial uses the base run's seed, so trials differ only in ``B`` and ``X``.
- **Objective**: the trial's best validation loss (``train_done.json``'s ``best_val_loss``,
  minimised). It is the quantity the trainer already keeps epochs and stops early on, computed
  over every validation pixel, so it moves smoothly with the settings; the pixel F1 at a 0.5
  threshold is flat over a wide range of nearly equal models and undefined-looking (0) in the
  first epochs of a slow start, which makes it a poor signal for both the sampler and the pruner.
- **Pruning**: after every epoch the trial reports its ``val_loss`` and optuna's
  :class:`~optuna.pruners.MedianPruner` stops it when it is worse than the median of earlier trials
  at that epoch (after ``pruner_startup_trials`` finished trials and ``pruner_warmup_epochs``
  epochs). optuna's Lightning callback now lives in ``optuna-integration``
  (``optuna_integration.PyTorchLightningPruningCallback``), and it imports ``lightning.pytorch``,
  the ``lightning`` distribution, while nucflow trains with ``pytorch_lightning``; without
  ``lightning`` installed the callback refuses to start (ImportError), and installing it would put
  a second copy of Lightning next to the one nucflow uses. :class:`PruneOnValLoss` is the few
  lines of it that a single-process trial needs (report, ask, raise ``TrialPruned``).
- **Seeded sampler.** Before each trial the study gets a ``TPESampler`` seeded from
  ``(seed, k)``, ``k`` the number of trials already finished (complete or pruned). The sampler's
  proposal then depends only on the seed and the finished trials, not on how many processes the
  search took: a search killed and resumed proposes the same points as one that ran through.
- **Resume.** The study lives in SQLite (``<out>/study.db``) and is loaded when it exists. Trials
  that finished (complete or pruned) count towards ``n_trials`` and are never repeated. A trial
  left ``RUNNING`` by a killed process is marked ``FAIL`` and its point is queued again
  (``enqueue_trial``), so it is re-run from its first epoch as the next trial, in a folder of its
  own (its earlier folder stays, listed as failed in ``trials.csv``). The search must not run
  twice at once on one folder (the workflow runs one job per search). Trials train on one device
  (the pruner's report-and-ask is single-process), whatever ``training.devices`` says.
- **Changed settings.** ``search.json`` records the settings and base run a study was begun with.
  When they change (other ranges, another base run; a larger ``n_trials`` is not a change), the
  earlier study is moved to ``previous/<time>/`` and the search starts afresh.
- **Outputs** (written under a temporary name and swapped): ``trials.csv`` (one row per trial:
  ``number, state, channels, factor, value, epochs, seconds``; value = best validation loss of
  complete trials, the last reported ``val_loss`` of pruned ones), ``best.json`` (the chosen ``B``,
  ``X``, its value and trial, ``C`` and the objective's name). Each trial's weights are deleted once
  it has finished (its ``log.csv`` and ``train_done.json`` stay): the chosen setting is trained
  again, with replicate seeds, as ordinary runs of the plan.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytorch_lightning as pl

from nucflow.errors import NucflowError
from nucflow.io import read_json, write_csv, write_json
from nucflow.models.registry import build
from nucflow.training.config import RunConfig
from nucflow.training.train import train

STUDY_NAME = "frem_search"
OBJECTIVE = "best validation loss (minimised)"
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
TRIAL_COLUMNS = ("number", "state", "channels", "factor", "value", "epochs", "seconds")


@dataclass(frozen=True)
class SearchSettings:
    """One search: ``n_trials`` finished trials over ``B`` in ``[channels_min, channels_max]``
    (``None``: ``C``) and ``X`` in ``[factor_min, factor_max]`` (log scale), TPE seeded with
    ``seed``; trials train at most ``max_epochs`` epochs (``None``: the base run's)."""

    n_trials: int
    channels_min: int = 1
    channels_max: int | None = None
    factor_min: float = 1.0
    factor_max: float = 1000.0
    seed: int = 0
    max_epochs: int | None = None
    pruning: bool = True
    pruner_startup_trials: int = 5
    pruner_warmup_epochs: int = 5

    def __post_init__(self):
        def fail(key: str, problem: str):
            raise NucflowError(f"frem search: {key}: {problem}")

        if self.n_trials < 1:
            fail("n_trials", f"must be >= 1, got {self.n_trials}")
        if self.channels_min < 1 or (self.channels_max is not None and self.channels_max < self.channels_min):
            fail("channels", f"need 1 <= min <= max, got [{self.channels_min}, {self.channels_max}]")
        if not 0 < self.factor_min <= self.factor_max:
            fail("factor", f"need 0 < min <= max, got [{self.factor_min}, {self.factor_max}]")
        if self.max_epochs is not None and self.max_epochs < 1:
            fail("max_epochs", f"must be >= 1 or null, got {self.max_epochs}")

    def study_key(self) -> dict:
        """What makes two searches the same study (``n_trials`` may grow)."""
        return {k: v for k, v in asdict(self).items() if k != "n_trials"}


class PruneOnValLoss(pl.Callback):
    """Report each epoch's ``val_loss`` to ``trial`` and stop the trial when its pruner says so
    (raises :class:`optuna.TrialPruned`, which :func:`train` lets through)."""

    def __init__(self, trial: optuna.Trial):
        self.trial = trial

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or "val_loss" not in trainer.callback_metrics:
            return
        epoch = pl_module.current_epoch
        self.trial.report(float(trainer.callback_metrics["val_loss"]), step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch}")


def feature_channels(base: RunConfig) -> int:
    """``C``: channels of the feature map FREM enhances in the base run's model."""
    net = build(base.model, **{**base.model_kwargs, "frem": {"channels": 1, "factor": 1.0}})
    return int(net.frem.feature_channels)


def sampler_seed(seed: int, finished: int) -> int:
    """The TPE seed of the trial that follows ``finished`` finished trials."""
    return int(np.random.SeedSequence([seed, finished]).generate_state(1)[0])


class FremSearch:
    """The search of base run ``base`` with ``settings`` in folder ``out_dir``."""

    def __init__(self, base: RunConfig, settings: SearchSettings, out_dir: str | Path, *, echo: bool = False):
        self.base, self.settings, self.out, self.echo = base, settings, Path(out_dir), echo
        self.channels = feature_channels(base)
        high = settings.channels_max if settings.channels_max is not None else self.channels
        if high > self.channels:
            raise NucflowError(f"frem search: channels: max {high} exceeds the {self.channels} channels of "
                               f"{base.model}'s deepest feature map")
        if settings.channels_min > high:
            raise NucflowError(f"frem search: channels: min {settings.channels_min} exceeds max {high}")
        self.channel_range = (settings.channels_min, high)

    @property
    def db(self) -> Path:
        return self.out / "study.db"

    def _record(self) -> dict:
        return {"settings": self.settings.study_key(), "feature_channels": self.channels,
                "base": {k: v for k, v in self.base.to_dict().items() if k not in ("out_dir", "accelerator")}}

    def _prepare(self) -> None:
        """Keep the folder's study when it was begun with these settings, else move it aside."""
        self.out.mkdir(parents=True, exist_ok=True)
        record_path = self.out / "search.json"
        record = self._record()
        if record_path.is_file() and read_json(record_path) != record:
            moved = self.out / "previous" / time.strftime("%Y%m%d-%H%M%S")
            moved.mkdir(parents=True)
            for name in ("study.db", "trials", "search.json", "trials.csv", "best.json"):
                if (self.out / name).exists():
                    shutil.move(str(self.out / name), str(moved / name))
            print(f"frem search: settings changed; moved the earlier study to {moved}")
        write_json(record_path, record)

    def _study(self) -> optuna.Study:
        pruner = (optuna.pruners.MedianPruner(n_startup_trials=self.settings.pruner_startup_trials,
                                              n_warmup_steps=self.settings.pruner_warmup_epochs)
                  if self.settings.pruning else optuna.pruners.NopPruner())
        study = optuna.create_study(study_name=STUDY_NAME, storage=f"sqlite:///{self.db}", direction="minimize",
                                    pruner=pruner, load_if_exists=True)
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            if trial.params:
                study.enqueue_trial(trial.params)
            print(f"frem search: trial {trial.number} was interrupted; marked failed, its point "
                  f"(channels {trial.params.get('channels')}, factor {trial.params.get('factor')}) runs again")
        return study

    def _objective(self, trial: optuna.Trial) -> float:
        channels = trial.suggest_int("channels", *self.channel_range)
        factor = trial.suggest_float("factor", self.settings.factor_min, self.settings.factor_max, log=True)
        folder = self.out / "trials" / f"{trial.number:04d}"
        config = self.base.replace(run_id=f"{self.base.run_id}-t{trial.number}", out_dir=str(folder),
                                   frem={"channels": channels, "factor": factor},
                                   max_epochs=self.settings.max_epochs or self.base.max_epochs,
                                   devices=1, strategy="auto")
        callbacks = [PruneOnValLoss(trial)] if self.settings.pruning else []
        try:
            result = train(config, callbacks=callbacks, echo=self.echo, interactive=False, fresh_if_changed=True)
        finally:  # the chosen setting is retrained; a trial's weights are not kept
            shutil.rmtree(folder / "checkpoints", ignore_errors=True)
            (folder / "model.pt").unlink(missing_ok=True)
        trial.set_user_attr("epochs", int(result.epochs_run))
        return float(result.best_val_loss)

    def run(self) -> pd.DataFrame:
        """Run (or resume) the search to ``n_trials`` finished trials; writes ``trials.csv`` and
        ``best.json`` and returns the trials table."""
        self._prepare()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = self._study()
        while (done := len(study.get_trials(deepcopy=False, states=FINISHED))) < self.settings.n_trials:
            study.sampler = optuna.samplers.TPESampler(seed=sampler_seed(self.settings.seed, done))
            study.optimize(self._objective, n_trials=1)
            trial = study.trials[-1]
            print(f"frem search: trial {trial.number} {trial.state.name.lower()}: channels "
                  f"{trial.params['channels']}, factor {trial.params['factor']:.4g}, value {trial_value(trial)}")
        table = trials_table(study)
        write_csv(self.out / "trials.csv", table)
        write_json(self.out / "best.json", self.best(study))
        return table

    def best(self, study: optuna.Study) -> dict:
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not complete:
            raise NucflowError(f"{self.db}: every trial was pruned or failed; no setting to choose")
        best = min(complete, key=lambda t: (t.value, t.number))
        return {"channels": int(best.params["channels"]), "factor": float(best.params["factor"]),
                "value": float(best.value), "trial": best.number, "feature_channels": self.channels,
                "objective": OBJECTIVE, "n_complete": len(complete),
                "n_pruned": len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,)))}


def trial_value(trial: optuna.trial.FrozenTrial) -> float | None:
    """A complete trial's value, a pruned one's last reported ``val_loss``, else ``None``."""
    if trial.state == optuna.trial.TrialState.COMPLETE:
        return float(trial.value)
    if trial.state == optuna.trial.TrialState.PRUNED and trial.intermediate_values:
        return float(trial.intermediate_values[max(trial.intermediate_values)])
    return None


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial (:data:`TRIAL_COLUMNS`), in trial order."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        seconds = ((t.datetime_complete - t.datetime_start).total_seconds()
                   if t.datetime_complete and t.datetime_start else None)
        rows.append({"number": t.number, "state": t.state.name.lower(), "channels": t.params.get("channels"),
                     "factor": t.params.get("factor"), "value": trial_value(t),
                     "epochs": t.user_attrs.get("epochs", len(t.intermediate_values) or None),
                     "seconds": None if seconds is None else round(seconds, 3)})
    # integer columns stay integers when a failed trial leaves them empty
    return pd.DataFrame(rows, columns=list(TRIAL_COLUMNS)).astype({"number": int, "channels": "Int64",
                                                                   "epochs": "Int64"})
