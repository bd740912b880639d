# Training stage: the plan, one run.json per run, training (resumable), learning-rate range tests,
# the FREM settings search.


rule plan:
    """The table of all runs (results/plan.csv)."""
    input:
        LAYOUT.config_snapshot("study"),
    output:
        LAYOUT.plan_table(),
    log:
        "logs/plan.log",
    benchmark:
        "results/benchmarks/plan.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    shell:
        "nucflow plan --config {input} --out {output} > {log} 2>&1"


rule run_config:
    """run.json of one run, from the plan; it changes only when that run's settings change (or the
    learning rate / smoothing factor it takes from a range test / the smoothing arm)."""
    input:
        unpack(lambda wc: STUDY.run_config_sources(wc.run_id)),
    output:
        LAYOUT.run_json("{run_id}"),
    log:
        "logs/plan/{run_id}.log",
    localrule: True
    conda:
        "../../envs/torch.yaml"
    params:
        content=lambda wc: shlex.quote(
            json.dumps(run_config(config, STUDY.get_run(wc.run_id)), sort_keys=True)
        ),
        options=lambda wc, input: STUDY.run_config_options(
            {k: getattr(input, k) for k in input.keys()}
        ),
    shell:
        "nucflow run-config --json {params.content} {params.options} --out {output} > {log} 2>&1"


rule train:
    """Train one run. Checkpoints live in results/runs/{run_id}/checkpoints/, which is not a rule
    output, so a retried or killed job resumes from last.ckpt instead of starting over; a rerun
    because the run's settings or tiles changed moves the earlier run to previous/<time>/ and
    starts afresh (--fresh-if-changed)."""
    input:
        run=LAYOUT.run_json("{run_id}"),
        tiles=lambda wc: STUDY.run_tiles(wc.run_id),
    output:
        model=LAYOUT.model("{run_id}"),
        done=LAYOUT.train_done("{run_id}"),
    log:
        "logs/train/{run_id}.log",
    benchmark:
        "results/benchmarks/train/{run_id}.tsv"
    wildcard_constraints:
        run_id=TRAIN_RUN_ID_PATTERN,
    retries: 1
    group:
        RUN_GROUP
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=TRAIN_GPUS,
        mem_mb=lambda wc, attempt: config["training"]["mem_mb"] * attempt,
        runtime=lambda wc, attempt: config["training"]["runtime_min"] * attempt,
    shell:
        "nucflow train --run {input.run} --fresh-if-changed --threads {threads} > {log} 2>&1"


use rule train as finetune with:
    """Fine-tune a transfer run from its source model's weights: the train rule with the source
    model as one more input, and its own log and benchmark (resumable like train)."""
    input:
        run=LAYOUT.run_json("{run_id}"),
        tiles=lambda wc: STUDY.run_tiles(wc.run_id),
        init=lambda wc: STUDY.get_run(wc.run_id).init_from,
    log:
        "logs/finetune/{run_id}.log",
    benchmark:
        "results/benchmarks/finetune/{run_id}.tsv"
    wildcard_constraints:
        run_id=FINETUNE_RUN_ID_PATTERN,


rule lr_find_config:
    """run.json of a learning-rate range test (the lr_range arm's data set and planes)."""
    output:
        LAYOUT.lr_find_json("{model}", "{modality}"),
    log:
        "logs/plan/lr_find/{model}-{modality}.log",
    localrule: True
    conda:
        "../../envs/torch.yaml"
    params:
        content=lambda wc: shlex.quote(
            json.dumps(lr_find_config(config, wc.model, wc.modality), sort_keys=True)
        ),
    shell:
        "nucflow run-config --json {params.content} --out {output} > {log} 2>&1"


rule lr_find:
    """Learning-rate range test of one model x modality: curve.csv, curve.png and the chosen rate."""
    input:
        run=LAYOUT.lr_find_json("{model}", "{modality}"),
        tiles=lambda wc: (lambda r: [*r.train_tiles, r.tiles(r.val_selection)])(
            lr_find_run(config, wc.model, wc.modality)
        ),
    output:
        curve=LAYOUT.lr_find_result("{model}", "{modality}", "curve.csv"),
        lr=LAYOUT.lr_find_result("{model}", "{modality}", "lr.json"),
    log:
        "logs/lr_find/{model}-{modality}.log",
    benchmark:
        "results/benchmarks/lr_find/{model}-{modality}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPUS,
        mem_mb=lambda wc, attempt: config["training"]["mem_mb"] * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        sweep=lambda wc: "--num-steps {num_steps} --min-lr {min_lr} --max-lr {max_lr}".format(
            **config["arms"]["lr_range"]
        ),
        out_dir=lambda wc: LAYOUT.lr_find_dir(wc.model, wc.modality),
    shell:
        "nucflow lr-find --run {input.run} {params.sweep} --threads {threads}"
        " --out-dir {params.out_dir} > {log} 2>&1"


rule frem_search_config:
    """run.json of the FREM search's base run: what every trial trains, with its own B and X."""
    input:
        unpack(lambda wc: STUDY.frem_search_sources(wc.search)),
    output:
        LAYOUT.frem_search_json("{search}"),
    log:
        "logs/plan/frem_search/{search}.log",
    wildcard_constraints:
        search=FREM_SEARCH_PATTERN,
    localrule: True
    conda:
        "../../envs/torch.yaml"
    params:
        content=lambda wc: shlex.quote(
            json.dumps(
                run_config(config, STUDY.frem_search_base(wc.search)), sort_keys=True
            )
        ),
        options=lambda wc, input: STUDY.run_config_options(
            {k: getattr(input, k) for k in input.keys()}
        ),
    shell:
        "nucflow run-config --json {params.content} {params.options} --out {output} > {log} 2>&1"


rule frem_search:
    """TPE search (optuna) of FREM's channels and factor on the validation split; study.db in the
    search folder is not an output, so a killed or retried job resumes it without repeating a
    finished trial."""
    input:
        run=LAYOUT.frem_search_json("{search}"),
        tiles=lambda wc: STUDY.frem_search_tiles(wc.search),
    output:
        trials=LAYOUT.frem_search_result("{search}", "trials.csv"),
        best=LAYOUT.frem_search_result("{search}", "best.json"),
    log:
        "logs/frem_search/{search}.log",
    benchmark:
        "results/benchmarks/frem_search/{search}.tsv"
    wildcard_constraints:
        search=FREM_SEARCH_PATTERN,
    retries: 1
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPUS,
        mem_mb=lambda wc, attempt: config["training"]["mem_mb"] * attempt,
        runtime=lambda wc, attempt: config["arms"]["frem_search"]["runtime_min"]
        * attempt,
    params:
        settings=STUDY.frem_search_settings(),
        out_dir=lambda wc: LAYOUT.frem_search_dir(wc.search),
    shell:
        "nucflow frem-search --run {input.run} --settings-json {params.settings}"
        " --out-dir {params.out_dir} --threads {threads} > {log} 2>&1"
