# Evaluation stage: per-run metric tables, then one set of tables per arm.


rule evaluate:
    """Pixel and object metrics of one run on one evaluation set (per image, per object, summary)."""
    input:
        prob=LAYOUT.prob_dir("{run_id}", "{eval_set}"),
        instances=LAYOUT.instances_dir("{run_id}", "{eval_set}", "{method}"),
        manifest=MANIFEST,
    output:
        images=LAYOUT.metrics("{run_id}", "{eval_set}", "{method}", "per_image.csv"),
        objects=LAYOUT.metrics("{run_id}", "{eval_set}", "{method}", "per_object.csv"),
        pred_objects=LAYOUT.metrics(
            "{run_id}", "{eval_set}", "{method}", "per_pred_object.csv"
        ),
        summary=LAYOUT.metrics("{run_id}", "{eval_set}", "{method}", "summary.json"),
    log:
        "logs/evaluate/{run_id}/{eval_set}/{method}.log",
    benchmark:
        "results/benchmarks/evaluate/{run_id}/{eval_set}/{method}.tsv"
    group:
        RUN_GROUP
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        truth=config["evaluation"]["truth"],
    shell:
        "nucflow evaluate --manifest {input.manifest} --pred-dir {input.instances} --prob-dir {input.prob}"
        " --ids-file {input.prob}/ids.txt --truth {params.truth} --run-id {wildcards.run_id}"
        " --out-images {output.images} --out-objects {output.objects} --out-pred-objects {output.pred_objects}"
        " --out-summary {output.summary} > {log} 2>&1"


rule aggregate:
    """One arm's result tables, every row tagged with its run's plan columns, and its runs' learning
    curves and how their training ended (convergence.csv: best step, cap, cut short or not).
    """
    input:
        # ancient: the plan changes whenever any arm's setting does; an arm's tables depend only on
        # its own runs, whose metrics (and the entries param) trigger reruns.
        plan=ancient(LAYOUT.plan_table()),
        metrics=lambda wc: STUDY.arm_metrics(wc.arm),
        # learning curves and convergence: log.csv and run.json beside each train_done.json
        trained=lambda wc: trained_of(STUDY.arm_metrics(wc.arm)),
    output:
        images=LAYOUT.arm_table("{arm}", "per_image.csv"),
        objects=LAYOUT.arm_table("{arm}", "per_object.csv"),
        pred_objects=LAYOUT.arm_table("{arm}", "per_pred_object.csv"),
        runs=LAYOUT.arm_table("{arm}", "per_run.csv"),
        curves=LAYOUT.arm_table("{arm}", "learning_curves.csv"),
        convergence=LAYOUT.arm_table("{arm}", "convergence.csv"),
    log:
        "logs/aggregate/{arm}.log",
    benchmark:
        "results/benchmarks/aggregate/{arm}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        entries=lambda wc, input: entries_of(input.metrics),
        out_dir=lambda wc: LAYOUT.arm_tables(wc.arm),
    shell:
        "nucflow aggregate --plan {input.plan} --arm {wildcards.arm} --entries {params.entries}"
        " --out-dir {params.out_dir} > {log} 2>&1"


rule multiscale_tradeoff:
    """Precision / recall of the multi-scale merge at each confidence level (LipoPose), pooled over images."""
    input:
        prob=LAYOUT.prob_dir("{run_id}", "{eval_set}"),
        instances=LAYOUT.instances_dir("{run_id}", "{eval_set}", "multiscale"),
        manifest=MANIFEST,
    output:
        LAYOUT.metrics("{run_id}", "{eval_set}", "multiscale", "tradeoff.csv"),
    log:
        "logs/evaluate/{run_id}/{eval_set}/tradeoff.log",
    benchmark:
        "results/benchmarks/evaluate/{run_id}/{eval_set}/tradeoff.tsv"
    group:
        RUN_GROUP
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        truth=config["evaluation"]["truth"],
    shell:
        "nucflow tradeoff --manifest {input.manifest} --prob-dir {input.prob} --ids-file {input.prob}/ids.txt"
        " --params {input.instances}/postprocess.json --truth {params.truth} --run-id {wildcards.run_id}"
        " --out {output} > {log} 2>&1"


rule tradeoff_table:
    """The multi-scale trade-off of every run that uses the merge, in one table."""
    input:
        plan=ancient(LAYOUT.plan_table()),  # as in aggregate: the trade-off tables trigger reruns
        tables=STUDY.tradeoff_files(),
    output:
        LAYOUT.arm_table("extensions", "multiscale_tradeoff.csv"),
    log:
        "logs/aggregate/multiscale_tradeoff.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    shell:
        "nucflow aggregate --plan {input.plan} --tradeoffs {input.tables} --out {output} > {log} 2>&1"


rule best_smoothing:
    """Each model's best label-smoothing factor, chosen on validation images (feeds data_size)."""
    input:
        STUDY.smoothing_metrics(),
    output:
        LAYOUT.arm_table("smoothing", "best.json"),
    log:
        "logs/choose/smoothing.log",
    benchmark:
        "results/benchmarks/choose/smoothing.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        # the runs as data, not the config file: an ancient() config snapshot input here kept a
        # new factor's runs out of the DAG (Snakemake 9.27)
        runs=lambda wc: shlex.quote(json.dumps(STUDY.smoothing_runs(), sort_keys=True)),
    shell:
        "nucflow choose smoothing --runs {params.runs} --summaries {input} --out {output} > {log} 2>&1"


checkpoint focal_round:
    """Round k of the greedy focal-plane search: the candidate plane whose run scores best on
    validation images joins the input; the next round's runs are known only after this.
    """
    input:
        lambda wc: STUDY.focal_round_metrics(wc.group, int(wc.round)),
    output:
        directory(LAYOUT.focal_round("{group}", "{round}")),
    log:
        "logs/choose/focal_planes/{group}/round{round}.log",
    benchmark:
        "results/benchmarks/choose/focal_planes/{group}/round{round}.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    shell:
        "nucflow choose focal-round --round {wildcards.round} --summaries {input} --out {output} > {log} 2>&1"


rule focal_greedy:
    """The greedy order of focal planes: one row per round (chosen plane order and its score)."""
    input:
        STUDY.focal_round_dirs(),
    output:
        LAYOUT.arm_table("focal_planes", "greedy.csv"),
    log:
        "logs/choose/focal_planes/greedy.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    shell:
        "nucflow choose focal-greedy --rounds {input} --out {output} > {log} 2>&1"


for _arm in STUDY.arm_names:

    rule:
        name:
            f"arm_{_arm}"
        input:
            STUDY.arm_targets(_arm),
        localrule: True


rule choose_method:
    """The instance method of one trained model, chosen on its validation images among the
    extensions arm's methods that read one probability map; recorded in the run folder, where
    nucflow predict and nucflow export read it."""
    input:
        model=LAYOUT.model("{run_id}"),
        manifest=MANIFEST,
        splits=LAYOUT.data("splits.json"),
        # ancient: the candidates are the methods param below; other settings do not touch the choice
        config=ancient(LAYOUT.config_snapshot("study")),
    output:
        record=LAYOUT.method_record("{run_id}"),
        table=LAYOUT.method_choice("{run_id}"),
        images=LAYOUT.method_choice("{run_id}", "method_choice_images.csv"),
    log:
        "logs/choose/method/{run_id}.log",
    benchmark:
        "results/benchmarks/choose/method/{run_id}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPUS,
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        run_dir=lambda wc: LAYOUT.run_dir(wc.run_id),
        eval_set=lambda wc: STUDY.choice_eval_set(wc.run_id),
        inference=lambda wc: STUDY.inference_args(wc.run_id, scales=False),
        methods=STUDY.choice_methods(),
    shell:
        "nucflow choose method --plan-config {input.config} --run {params.run_dir} --manifest {input.manifest}"
        " --splits {input.splits} --eval-set {params.eval_set} {params.inference} --threads {threads}"
        " --out-table {output.table} --out-images {output.images} --record {output.record} > {log} 2>&1"


rule method_choice_table:
    """An arm's instance-method choices in one table (model_comparison, extensions)."""
    input:
        lambda wc: [LAYOUT.method_choice(r) for r in STUDY.method_choice_runs(wc.arm)],
    output:
        LAYOUT.arm_table("{arm}", "method_choice.csv"),
    log:
        "logs/choose/method_choice/{arm}.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    shell:
        "nucflow choose method-table --tables {input} --out {output} > {log} 2>&1"
