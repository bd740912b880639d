# Attribution stage: the paper's error analyses per run, label noise across the five models,
# and one table per analysis and arm for the figures.


rule attribute_run:
    """Density/size correlations, FN/FP composition, the artifact share and the merges / splits /
    missed against the pixel threshold (figure 07) of one evaluation."""
    input:
        images=LAYOUT.metrics("{run_id}", "{eval_set}", "{method}", "per_image.csv"),
        objects=LAYOUT.metrics("{run_id}", "{eval_set}", "{method}", "per_object.csv"),
        prob=LAYOUT.prob_dir("{run_id}", "{eval_set}"),
        manifest=MANIFEST,
    output:
        tables=directory(
            LAYOUT.run_attribution("{run_id}", "{eval_set}", "{method}", "tables")
        ),
        artifacts=directory(
            LAYOUT.run_attribution("{run_id}", "{eval_set}", "{method}", "artifacts")
        ),
    log:
        "logs/attribute/{run_id}/{eval_set}/{method}.log",
    benchmark:
        "results/benchmarks/attribute/{run_id}/{eval_set}/{method}.tsv"
    group:
        RUN_GROUP
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        seed=config["seed"],
        truth=config["evaluation"]["truth"],
    shell:
        "nucflow attribute run --per-image {input.images} --per-object {input.objects} --manifest {input.manifest}"
        " --prob-dir {input.prob} --truth {params.truth} --seed {params.seed}"
        " --tables-out {output.tables} --artifacts-out {output.artifacts} > {log} 2>&1"


rule label_noise:
    """The paper's label-noise estimate: pixels where >= 4 of 5 fluorescence models contradict
    the ground truth; with the simulator's exact truth, checked against the true noise.
    """
    input:
        probs=lambda wc: STUDY.label_noise_inputs(wc.dataset, wc.seed),
        manifest=MANIFEST,
    output:
        directory(LAYOUT.label_noise("{dataset}", "{seed}")),
    log:
        "logs/attribute/label_noise/{dataset}-s{seed}.log",
    benchmark:
        "results/benchmarks/attribute/label_noise/{dataset}-s{seed}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        names=lambda wc: " ".join(STUDY.label_noise_models(wc.dataset, wc.seed)),
        first=lambda wc, input: input.probs[0],
    shell:
        "nucflow attribute label-noise --manifest {input.manifest} --pred-dirs {input.probs}"
        " --model-names {params.names} --ids $(cat {params.first}/ids.txt) --out {output} > {log} 2>&1"


rule attribution_tables:
    """One table per analysis for an arm, rows tagged with their runs (what the figures read)."""
    input:
        plan=ancient(LAYOUT.plan_table()),  # as in aggregate: the arm's own runs trigger reruns
        runs=lambda wc: STUDY.arm_attribution(wc.arm),
        label_noise=lambda wc: STUDY.arm_label_noise(wc.arm),
    output:
        directory(LAYOUT.arm_attribution("{arm}")),
    log:
        "logs/attribute/{arm}.log",
    benchmark:
        "results/benchmarks/attribute/{arm}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        entries=lambda wc: " ".join("/".join(e) for e in STUDY.arm_entries(wc.arm)),
    shell:
        "nucflow aggregate --plan {input.plan} --entries {params.entries} --attribution"
        " --label-noise {input.label_noise} --out-dir {output} > {log} 2>&1"


rule claims:
    """The paper's eight findings checked against the arms' tables: one row per finding and
    sub-row with our estimate, its bootstrap 95% CI over images, the paper's value and a verdict
    (read by summary.md; the bootstrap uses the summary's resamples and seed, so the numbers match
    its sections)."""
    input:
        STUDY.claims_inputs(),
    output:
        LAYOUT.claims(),
    log:
        "logs/attribute/claims.log",
    benchmark:
        "results/benchmarks/attribute/claims.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "nucflow attribute claims --results results --out {output} > {log} 2>&1"
