# Training stage: the plan, one run.json per run, training (resumable), learning-rate range tests.


rule plan:
    """The table of all runs (results/plan.csv)."""
    input:
        "results/config/study.json",
    output:
        "results/plan.csv",
    log:
        "logs/plan.log",
    benchmark:
        "results/benchmarks/plan.tsv"
    threads: 1
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    shell:
        "nucflow plan --config {input} --out {output} > {log} 2>&1"


rule run_config:
    """run.json of one run, from the plan; it changes only when that run's settings change."""
    output:
        "results/plan/runs/{run_id}.json",
    params:
        content=lambda wc: shlex.quote(json.dumps(run_config(config, RUNS[wc.run_id]), sort_keys=True)),
    log:
        "logs/plan/{run_id}.log",
    localrule: True
    conda:
        "../../envs/torch.yaml"
    shell:
        "nucflow run-config --json {params.content} --out {output} > {log} 2>&1"


rule train:
    """Train one run. Checkpoints live in results/runs/{run_id}/checkpoints/, which is not a rule
    output, so a retried or rerun job resumes from last.ckpt instead of starting over."""
    input:
        run="results/plan/runs/{run_id}.json",
        tiles=run_tiles,
    output:
        model="results/runs/{run_id}/model.pt",
        done="results/runs/{run_id}/train_done.json",
    log:
        "logs/train/{run_id}.log",
    benchmark:
        "results/benchmarks/train/{run_id}.tsv"
    threads: 1
    retries: 1
    resources:
        gpu=lambda wc, attempt: gpu_resources(attempt),
        mem_mb=lambda wc, attempt: config["training"]["mem_mb"] * attempt,
        runtime=lambda wc, attempt: config["training"]["runtime_min"] * attempt,
    conda:
        "../../envs/torch.yaml"
    shell:
        "nucflow train --run {input.run} --threads {threads} > {log} 2>&1"
