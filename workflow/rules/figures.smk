# Figures stage: every figure from the result tables only, and the generated summary.
# Each figure is one PNG (tagged for `snakemake --report` with its caption in workflow/report/)
# and one PDF. A figure is expected when one of the arms that feed it is on (arm_targets is not
# empty); the figures of arms that are off are neither drawn nor expected.

# Which figures exist, their stems, the arms feeding them and their report sections:
# nucflow.results.catalog (the figure registry's names; no figure is named here).
from nucflow.results.catalog import CATALOG as FIGURE_CATALOG

FIGURES_DRAWN = {
    name: entry
    for name, entry in FIGURE_CATALOG.items()
    if not entry.arms
    or any(arm in config["arms"] and STUDY.arm_targets(arm) for arm in entry.arms)
}


rule models_table:
    """Parameters, MACs and forward time of each architecture at the study's width."""
    output:
        LAYOUT.models_table(),
    log:
        "logs/figures/models_table.log",
    benchmark:
        "results/benchmarks/figures/models_table.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        width=config["training"]["width"],
        size=config["tiles"]["size"],
    shell:
        "nucflow models --width {params.width} --size {params.size} --out {output} > {log} 2>&1"


rule compute_table:
    """Where the study's time went: wall, CPU, start-up and optimisation seconds per job and rule
    (from the benchmark files, the jobs' logs and the runs' log.csv); read by figure 14.
    """
    input:
        STUDY.figure_inputs(),
    output:
        jobs=LAYOUT.arm_table("compute", "jobs.csv"),
        rules=LAYOUT.arm_table("compute", "rules.csv"),
        summary=LAYOUT.arm_table("compute", "summary.json"),
    log:
        "logs/figures/compute_table.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        results=lambda wc: LAYOUT.root,
        out=lambda wc, output: str(Path(output.jobs).parent),
    shell:
        "nucflow compute --results {params.results} --logs logs --out {params.out} > {log} 2>&1"


rule figure_tables:
    """The bootstrap intervals every figure draws (95% CIs over images, seeded), one folder of
    CSV tables per figure; the figures rule only reads them."""
    input:
        STUDY.figure_inputs(),
    output:
        directory(LAYOUT.figure_tables()),
    log:
        "logs/figures/figure_tables.log",
    benchmark:
        "results/benchmarks/figures/figure_tables.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        names=" ".join(FIGURES_DRAWN),
    shell:
        "nucflow figure-tables --results results --only {params.names} > {log} 2>&1"


rule figures:
    """Every figure of the arms that are on (PNG + PDF) and results/summary.md. The outputs are
    update(): Snakemake keeps them while the job runs and puts the previous versions back if it
    fails, so a failed redraw does not cost the figures that were there (nucflow figures itself
    moves new figures in only when all were drawn)."""
    input:
        STUDY.figure_inputs(),
        compute=LAYOUT.arm_table("compute", "jobs.csv"),
        intervals=LAYOUT.figure_tables(),
        # a committed reference result (report.reference), when it is there
        reference=reference_claims(),
        overview=report(
            LAYOUT.data("overview.png"),
            caption="../report/01_data_overview.rst",
            category="1. Data",
            labels={"figure": "01", "name": "data overview"},
        ),
    output:
        png=[
            report(
                update(LAYOUT.figure(entry.stem, "png")),
                caption=f"../report/{entry.stem}.rst",
                category=entry.category,
                labels={
                    "figure": entry.stem[:2],
                    "name": name.replace("_", " "),
                },
            )
            for name, entry in FIGURES_DRAWN.items()
        ],
        pdf=[
            update(LAYOUT.figure(entry.stem, "pdf"))
            for entry in FIGURES_DRAWN.values()
        ],
        summary=report(
            update(LAYOUT.summary()),
            caption="../report/summary.rst",
            category="0. Summary",
            labels={"figure": "-", "name": "summary"},
        ),
    log:
        "logs/figures/figures.log",
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        names=" ".join(FIGURES_DRAWN),
        reference=reference_option(),
        results=lambda wc: LAYOUT.root,
        out=lambda wc: LAYOUT.figures_dir(),
    shell:
        "nucflow figures --results {params.results} --out {params.out} --only {params.names}"
        " --summary {output.summary} {params.reference} > {log} 2>&1"
