# Inference stage: probability maps per run and evaluation set, then instance labels.


rule predict:
    """Probability maps of one run on one evaluation set (sliding windows, Gaussian blending)."""
    input:
        model=LAYOUT.model("{run_id}"),
        manifest=MANIFEST,
        splits=LAYOUT.data("splits.json"),
    output:
        directory(LAYOUT.prob_dir("{run_id}", "{eval_set}")),
    log:
        "logs/predict/{run_id}/{eval_set}.log",
    benchmark:
        "results/benchmarks/predict/{run_id}/{eval_set}.tsv"
    group:
        RUN_GROUP
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPUS,
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        eval_set=lambda wc: EvalSet.parse(wc.eval_set).text,
        inference=lambda wc: STUDY.inference_args(wc.run_id),
        folder=lambda wc: LAYOUT.run_dir(wc.run_id),
    shell:
        "nucflow predict --model {params.folder} --manifest {input.manifest}"
        " --splits {input.splits} --eval-set {params.eval_set} {params.inference} --threads {threads}"
        " --out {output} > {log} 2>&1"


rule postprocess:
    """Instance labels from probability maps with one post-processing method."""
    input:
        LAYOUT.prob_dir("{run_id}", "{eval_set}"),
    output:
        directory(LAYOUT.instances_dir("{run_id}", "{eval_set}", "{method}")),
    log:
        "logs/postprocess/{run_id}/{eval_set}/{method}.log",
    benchmark:
        "results/benchmarks/postprocess/{run_id}/{eval_set}/{method}.tsv"
    group:
        RUN_GROUP
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        extra=lambda wc: STUDY.postprocess_params(wc.method),
        pattern=lambda wc: PROB_PATTERN[method_entry(wc.method).reads],
    shell:
        "nucflow postprocess --method {wildcards.method} {params.extra} --out-dir {output} {input}/{params.pattern} > {log} 2>&1"
