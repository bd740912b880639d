# Figures stage: every figure from the result tables only, and the generated summary.
# Each figure is one PNG (tagged for `snakemake --report` with its caption in workflow/report/)
# and one PDF. A figure is expected when one of the arms that feed it is on (arm_targets is not
# empty); the figures of arms that are off are neither drawn nor expected.

# stem -> (name in nucflow.figures.registry.FIGURES, arms feeding it (any; () = always), report category)
FIGURE_SPECS = {
    "02_architectures": ("architectures", (), "2. Models and training"),
    "03_lr_range": ("lr_range", ("lr_range",), "2. Models and training"),
    "04_model_comparison": (
        "model_comparison",
        ("model_comparison",),
        "3. Model comparison",
    ),
    "05_density": ("density", ("model_comparison",), "3. Model comparison"),
    "06_error_examples": (
        "error_examples",
        ("model_comparison",),
        "3. Model comparison",
    ),
    "07_object_errors": ("object_errors", ("model_comparison",), "3. Model comparison"),
    "08_attribution": ("attribution", ("model_comparison",), "3. Model comparison"),
    "09_data_size": ("data_size", ("data_size",), "4. Little training data"),
    "10_smoothing_ablation": (
        "smoothing_ablation",
        ("smoothing", "ablation"),
        "4. Little training data",
    ),
    "11_transfer": ("transfer", ("transfer",), "4. Little training data"),
    "12_focal_planes": ("focal_planes", ("focal_planes",), "5. Inputs and extensions"),
    "13_extensions": ("extensions", ("extensions",), "5. Inputs and extensions"),
    "14_compute": ("compute", (), "6. Compute"),
}
FIGURES_DRAWN = [
    stem
    for stem, (_, arms, _) in FIGURE_SPECS.items()
    if not arms or any(arm in config["arms"] and arm_targets(arm) for arm in arms)
]


rule models_table:
    """Parameters, MACs and forward time of each architecture at the study's width."""
    output:
        "results/models.csv",
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
        figure_inputs(),
    output:
        jobs="results/tables/compute/jobs.csv",
        rules="results/tables/compute/rules.csv",
        summary="results/tables/compute/summary.json",
    log:
        "logs/figures/compute_table.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    shell:
        "nucflow compute --results results --logs logs --out results/tables/compute > {log} 2>&1"


rule figures:
    """Every figure of the arms that are on (PNG + PDF) and results/summary.md. The outputs are
    update(): Snakemake keeps them while the job runs and puts the previous versions back if it
    fails, so a failed redraw does not cost the figures that were there (nucflow figures itself
    moves new figures in only when all were drawn)."""
    input:
        figure_inputs(),
        compute="results/tables/compute/jobs.csv",
        overview=report(
            "results/data/overview.png",
            caption="../report/01_data_overview.rst",
            category="1. Data",
            labels={"figure": "01", "name": "data overview"},
        ),
    output:
        png=[
            report(
                update(f"results/figures/{stem}.png"),
                caption=f"../report/{stem}.rst",
                category=FIGURE_SPECS[stem][2],
                labels={
                    "figure": stem[:2],
                    "name": FIGURE_SPECS[stem][0].replace("_", " "),
                },
            )
            for stem in FIGURES_DRAWN
        ],
        pdf=[update(f"results/figures/{stem}.pdf") for stem in FIGURES_DRAWN],
        summary=report(
            update("results/summary.md"),
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
        names=" ".join(FIGURE_SPECS[stem][0] for stem in FIGURES_DRAWN),
    shell:
        "nucflow figures --results results --out results/figures --only {params.names}"
        " --summary {output.summary} > {log} 2>&1"
