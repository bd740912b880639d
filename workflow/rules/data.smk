# Data stage: simulate (or take the user's manifest), validate, split, overview, tiles, augment.


rule config_snapshot:
    """The config sections a step depends on, as a file (JSON, which is YAML): the step reruns
    when they change, and the file records what it ran with."""
    output:
        LAYOUT.config_snapshot("{section}"),
    log:
        "logs/config/{section}.log",
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    params:
        content=lambda wc: snapshot(config, *SNAPSHOTS[wc.section]),
    shell:
        "printf '%s\n' {params.content} > {output} 2> {log}"


rule simulate:
    """The embedded default data: both simulated data sets with their manifest."""
    input:
        LAYOUT.config_snapshot("simulation"),
    output:
        manifest=f"{SIMULATED_ROOT}/manifest.csv",
        record=f"{SIMULATED_ROOT}/simulation.json",
        images=directory(expand(f"{SIMULATED_ROOT}/{{dataset}}", dataset=DATASETS)),
    log:
        "logs/data/simulate.log",
    benchmark:
        "results/benchmarks/data/simulate.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: workflow.cores
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        root=lambda wc, output: os.path.dirname(output.manifest),
    shell:
        "nucflow simulate --config {input} --out {params.root} --workers {threads} > {log} 2>&1"


rule validate_manifest:
    """Check every row and file of the manifest before anything reads it."""
    input:
        MANIFEST,
    output:
        LAYOUT.data("manifest_check.txt"),
    log:
        "logs/data/validate_manifest.log",
    benchmark:
        "results/benchmarks/data/validate_manifest.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "nucflow validate {input} --workers {threads} > {output} 2> {log}"


rule split:
    """Seeded, stratified train/val/test splits."""
    input:
        manifest=MANIFEST,
        check=LAYOUT.data("manifest_check.txt"),
        config=LAYOUT.config_snapshot("splits"),
    output:
        LAYOUT.data("splits.json"),
    log:
        "logs/data/split.log",
    benchmark:
        "results/benchmarks/data/split.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "nucflow split --manifest {input.manifest} --config {input.config} --out {output} > {log} 2>&1"


rule overview:
    """Data overview figure: per cell line, fluorescence, three planes, labels, artifacts."""
    input:
        manifest=MANIFEST,
        check=LAYOUT.data("manifest_check.txt"),
    output:
        png=LAYOUT.data("overview.png"),
        pdf=LAYOUT.data("overview.pdf"),
    log:
        "logs/data/overview.log",
    benchmark:
        "results/benchmarks/data/overview.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "nucflow overview --manifest {input.manifest} --out {output.png} > {log} 2>&1"


rule tiles:
    """Normalised training tiles of one selection of images."""
    input:
        manifest=MANIFEST,
        splits=LAYOUT.data("splits.json"),
    output:
        LAYOUT.tiles("{dataset}", "{modality}", "{planes}", "{selection}"),
    log:
        "logs/tiles/{dataset}/{modality}-{planes}/{selection}.log",
    benchmark:
        "results/benchmarks/tiles/{dataset}/{modality}-{planes}/{selection}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        args=lambda wc: STUDY.tiles_args(wc.modality, wc.planes, wc.selection),
    shell:
        "nucflow tiles --manifest {input.manifest} --splits {input.splits} --dataset {wildcards.dataset}"
        " {params.args} --out {output} > {log} 2>&1"


rule augment:
    """The published five flip/rotation copies of a tile set."""
    input:
        LAYOUT.tiles("{dataset}", "{modality}", "{planes}", "{selection}"),
    output:
        LAYOUT.tiles("{dataset}", "{modality}", "{planes}", "{selection}", ".aug.npz"),
    log:
        "logs/tiles/{dataset}/{modality}-{planes}/{selection}.aug.log",
    benchmark:
        "results/benchmarks/tiles/{dataset}/{modality}-{planes}/{selection}.aug.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "nucflow augment --in {input} --out {output} > {log} 2>&1"
