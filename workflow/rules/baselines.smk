# Baselines stage: StarDist trained from scratch on the model comparison's tiles, its labels of the
# same test images, the same evaluation, and one table beside the five models. The commands need the
# optional extra nucflow[baselines] (envs/baselines.yaml for conda users; arms.baselines.python for a
# separate environment); without it the first job stops with one line saying so.


rule baseline_train:
    """Train one baseline on a model comparison condition's training and validation tiles (a rerun
    starts over: Snakemake clears the model folder first)."""
    input:
        train=lambda wc: STUDY.get_baseline(wc.baseline).train_tiles,
        val=lambda wc: STUDY.get_baseline(wc.baseline).val_tiles,
    output:
        directory(LAYOUT.baseline_model("{baseline}")),
    log:
        "logs/baselines/{baseline}/train.log",
    benchmark:
        "results/benchmarks/baselines/{baseline}/train.tsv"
    conda:
        "../../envs/baselines.yaml"
    threads: 1
    resources:
        gpu=TRAIN_GPUS,
        mem_mb=lambda wc, attempt: config["training"]["mem_mb"] * attempt,
        runtime=lambda wc, attempt: config["training"]["runtime_min"] * attempt,
    params:
        command=STUDY.baseline_command(),
        settings=lambda wc: STUDY.baseline_train_args(wc.baseline),
    shell:
        "{params.command} train --tiles {input.train} --val-tiles {input.val} --out {output}"
        " {params.settings} > {log} 2>&1"


rule baseline_predict:
    """A baseline's instance labels of an evaluation set's images (whole fields, as the networks')."""
    input:
        model=LAYOUT.baseline_model("{baseline}"),
        manifest=MANIFEST,
        splits=LAYOUT.data("splits.json"),
    output:
        directory(LAYOUT.baseline_labels("{baseline}", "{eval_set}")),
    log:
        "logs/baselines/{baseline}/predict-{eval_set}.log",
    benchmark:
        "results/benchmarks/baselines/{baseline}/predict-{eval_set}.tsv"
    conda:
        "../../envs/baselines.yaml"
    threads: 1
    resources:
        gpu=GPUS,
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        command=STUDY.baseline_command(),
    shell:
        "{params.command} predict --model {input.model} --manifest {input.manifest}"
        " --eval-set {wildcards.eval_set} --splits {input.splits} --out {output} > {log} 2>&1"


rule baseline_evaluate:
    """Pixel and object metrics of a baseline's labels, by the networks' evaluation."""
    input:
        labels=LAYOUT.baseline_labels("{baseline}", "{eval_set}"),
        manifest=MANIFEST,
    output:
        images=LAYOUT.baseline_metrics("{baseline}", "{eval_set}", "per_image.csv"),
        objects=LAYOUT.baseline_metrics("{baseline}", "{eval_set}", "per_object.csv"),
        summary=LAYOUT.baseline_metrics("{baseline}", "{eval_set}", "summary.json"),
    log:
        "logs/baselines/{baseline}/evaluate-{eval_set}.log",
    benchmark:
        "results/benchmarks/baselines/{baseline}/evaluate-{eval_set}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        truth=config["evaluation"]["truth"],
    shell:
        "nucflow evaluate --manifest {input.manifest} --pred-dir {input.labels} --ids-file {input.labels}/ids.txt"
        " --truth {params.truth} --run-id {wildcards.baseline} --out-images {output.images}"
        " --out-objects {output.objects} --out-summary {output.summary} > {log} 2>&1"


rule baseline_table:
    """The baselines' per-image and per-object tables, tagged like the model comparison's rows."""
    input:
        images=STUDY.baseline_metrics("per_image.csv"),
        objects=STUDY.baseline_metrics("per_object.csv"),
    output:
        images=LAYOUT.arm_table("baselines", "per_image.csv"),
        objects=LAYOUT.arm_table("baselines", "per_object.csv"),
    log:
        "logs/aggregate/baselines.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        baselines=shlex.quote(STUDY.baseline_tags()),
        out_dir=lambda wc, output: Path(output.images).parent,
    shell:
        "nucflow baseline table --baselines {params.baselines} --out-dir {params.out_dir} > {log} 2>&1"
