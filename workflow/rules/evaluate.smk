# Evaluation stage: per-run metric tables, then one set of tables per arm.


rule evaluate:
    """Pixel and object metrics of one run on one evaluation set (per image, per object, summary)."""
    input:
        prob="results/runs/{run_id}/prob/{eval_set}",
        instances="results/runs/{run_id}/instances/{eval_set}/{method}",
        manifest=MANIFEST,
    output:
        images="results/runs/{run_id}/metrics/{eval_set}/{method}/per_image.csv",
        objects="results/runs/{run_id}/metrics/{eval_set}/{method}/per_object.csv",
        summary="results/runs/{run_id}/metrics/{eval_set}/{method}/summary.json",
    params:
        truth=config["evaluation"]["truth"],
    log:
        "logs/evaluate/{run_id}/{eval_set}/{method}.log",
    benchmark:
        "results/benchmarks/evaluate/{run_id}/{eval_set}/{method}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/analysis.yaml"
    shell:
        "nucflow evaluate --manifest {input.manifest} --pred-dir {input.instances} --prob-dir {input.prob}"
        " --ids-file {input.prob}/ids.txt --truth {params.truth} --run-id {wildcards.run_id}"
        " --out-images {output.images} --out-objects {output.objects} --out-summary {output.summary} > {log} 2>&1"


rule aggregate:
    """One arm's result tables, every row tagged with its run's plan columns."""
    input:
        plan="results/plan.csv",
        metrics=arm_metrics,
    output:
        images="results/tables/{arm}/per_image.csv",
        objects="results/tables/{arm}/per_object.csv",
        runs="results/tables/{arm}/per_run.csv",
    params:
        entries=lambda wc: " ".join("/".join(e) for e in arm_entries(wc.arm)),
    log:
        "logs/aggregate/{arm}.log",
    benchmark:
        "results/benchmarks/aggregate/{arm}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    shell:
        "nucflow aggregate --plan {input.plan} --entries {params.entries} --out-dir results/tables/{wildcards.arm} > {log} 2>&1"


rule arm_model_comparison:
    """Target: everything of the model-comparison arm."""
    input:
        "results/tables/model_comparison/per_image.csv",
        "results/attribution/model_comparison/tables",
