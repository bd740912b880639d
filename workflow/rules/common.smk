# Validation and globals. Every file name, target and option string comes from
# nucflow.study.targets.StudyTargets (plain Python, tested without Snakemake); the rules only
# adapt their wildcards to it.
import json
import shlex
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate as snakemake_validate
from snakemake_interface_executor_plugins.settings import ExecMode

from nucflow.config import SCHEMA_PATH, validate_config, yte_configs
from nucflow.io import read_json
from nucflow.models.registry import model_names
from nucflow.postprocess.registry import PROB_PATTERN, method_entry
from nucflow.study.layout import (
    EVAL_SET_PATTERN,
    FOCAL_GROUP_PATTERN,
    LABEL_NOISE_SEED_PATTERN,
    RUN_ID_PATTERN,
    SELECTION_PATTERN,
    LAYOUT,
    EvalSet,
)
from nucflow.study.run_ids import (
    BASELINE_ID_PATTERN,
    FINETUNE_RUN_ID_PATTERN,
    FREM_SEARCH_PATTERN,
    TRAIN_RUN_ID_PATTERN,
)
from nucflow.study.plan import lr_find_config, lr_find_run, run_config
from nucflow.study.targets import (
    RUN_GROUP,
    SIMULATED_ROOT,
    SNAPSHOTS,
    StudyTargets,
    entries_of,
    manifest_path,
    simulated_datasets,
    snapshot,
    trained_of,
)
from nucflow.worker import Worker

if not config:
    raise WorkflowError(
        "no config given: pass --configfile (the default profile passes the demo config)"
    )
try:
    # the catalog's check: Snakemake's own validation against the packaged schema (defaults filled
    # where the schema gives them directly)
    snakemake_validate(config, str(SCHEMA_PATH))
except WorkflowError:
    # the same error, said in one line
    validate_config(config, source="snakemake config")
    raise
# what a schema cannot say: registry names, parameters of post-processing methods, tile sizes
validate_config(config, source="snakemake config")
for _path in yte_configs(workflow.configfiles):
    logger.warning(
        f"nucflow: {_path} opts into YTE templating (__use_yte__): Snakemake has run the Python "
        "in it while loading it. Use only configs from people you trust, or remove __use_yte__."
    )


def focal_choice(group, round_):
    """The plane order chosen after one round of the focal-plane search (its checkpoint)."""
    folder = checkpoints.focal_round.get(group=group, round=round_).output[0]
    return tuple(read_json(f"{folder}/choice.json")["order"])


STUDY = StudyTargets(config, focal_choice=focal_choice)
DATASETS = simulated_datasets(config)
MANIFEST = manifest_path(config)
#: GPUs per predict job; a retry asks for the same number (memory and runtime grow instead).
GPUS = config["training"]["gpus"]
#: GPUs per train / finetune job: the devices one run trains on (training.devices; > 1 is DDP).
#: A local run counts them only against `--resources gpu=N`; the SLURM profile asks for them.
TRAIN_GPUS = config["training"]["devices"]

# Local runs send their `nucflow` commands to one job worker that has imported torch once
# (nucflow.worker) when they have enough jobs to pay for its imports; cluster jobs, jobs in their
# own software environments and NUCFLOW_WORKER=off start a process per command as before.
JOB_WORKER = Worker()


onstart:
    if (
        workflow.local_exec
        and workflow.exec_mode == ExecMode.DEFAULT
        and not workflow.deployment_settings.deployment_method
    ):
        JOB_WORKER.start(
            jobs=sum(job.is_shell for job in workflow.dag.needrun_jobs())
        )


onsuccess:
    JOB_WORKER.stop()


onerror:
    JOB_WORKER.stop()


def reference_claims():
    """The reference result's claims table, an input of the summary when report.reference names a
    folder that holds one (a missing one is said in the summary, not an error)."""
    folder = config["report"]["reference"]
    path = Path(folder) / "claims.csv" if folder else None
    return [str(path)] if path is not None and path.is_file() else []


def reference_option():
    folder = config["report"]["reference"]
    return f"--reference {shlex.quote(folder)}" if folder else ""
