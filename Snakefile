# nucflow: the study as a table of contents. Stages live in workflow/rules/, one file each;
# every rule calls the `nucflow` CLI. Config is validated before any rule runs.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"


rule all:
    input:
        all_targets(),
    default_target: True
