# Figures stage: every figure from the result tables only, and the generated summary.


rule models_table:
    """Parameters, MACs and forward time of each architecture at the study's width."""
    output:
        "results/models.csv",
    params:
        width=config["training"]["width"],
        size=config["tiles"]["size"],
    log:
        "logs/figures/models_table.log",
    benchmark:
        "results/benchmarks/figures/models_table.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        "../../envs/torch.yaml"
    shell:
        "nucflow models --width {params.width} --size {params.size} --out {output} > {log} 2>&1"


rule figures:
    """All figures whose tables exist (others are skipped) and results/summary.md."""
    input:
        figure_inputs(),
    output:
        figures=directory("results/figures"),
        summary="results/summary.md",
    log:
        "logs/figures/figures.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        "../../envs/analysis.yaml"
    shell:
        "nucflow figures --results results --out {output.figures} --summary {output.summary} > {log} 2>&1"
