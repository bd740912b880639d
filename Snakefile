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
    selection=r"(train|val|test)(-n\d+)?(-(lines|ex)[A-Za-z0-9+]+)?(-fg)?",
    run_id=r"[A-Za-z0-9_.+]+(-[A-Za-z0-9_.+]+)*",
    eval_set=r"[A-Za-z0-9_]+-(train|val|test)(-[A-Za-z0-9+]+)?",
    method=r"[a-z_0-9]+",
    arm=r"[a-z_]+",
    section=r"simulation|splits|study",
    model=r"unet|unetpp|deeplabv3plus|tiramisu|ppunet",
    group=r"[a-z0-9]+-s\d+",
    round=r"\d+",


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/infer.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/attribute.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        all_targets(),
