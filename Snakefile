# nucflow: the study as a table of contents. Stages live in workflow/rules/, one file each;
# every rule calls the `nucflow` CLI. Config is validated before any rule runs.
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


# The config comes from --configfile (profiles/default passes config/config.yaml). There is
# deliberately no `configfile:` directive: snakemake would merge it under the user's config, and
# keys of the default (e.g. its data sets) would leak into every other study.


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset=r"[A-Za-z0-9_]+",
    modality=r"fluorescence|brightfield",
    planes=r"none|\d+(\.\d+)*",
    selection=SELECTION_PATTERN,
    run_id=RUN_ID_PATTERN,
    eval_set=EVAL_SET_PATTERN,
    method=r"[a-z_0-9]+",
    arm=r"[a-z_]+",
    section=r"simulation|splits|study",
    model="|".join(model_names()),  # the model registry
    group=FOCAL_GROUP_PATTERN,
    round=r"\d+",
    baseline=BASELINE_ID_PATTERN,
    seed=LABEL_NOISE_SEED_PATTERN,


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/infer.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/attribute.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        STUDY.all_targets(),
