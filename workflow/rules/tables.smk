# Per-shard tables gathered into the dataset's Parquet tables.


rule tables:
    input:
        neurons=shard_files("results/{ds}/interim/{shard}/neurons.parquet"),
        skipped=shard_files("results/{ds}/interim/{shard}/skipped.parquet"),
        coverage=shard_files("results/{ds}/interim/{shard}/coverage.parquet"),
    output:
        neurons="results/{ds}/tables/neurons.parquet",
        skipped="results/{ds}/tables/skipped.parquet",
        coverage="results/{ds}/tables/coverage.parquet",
    log:
        "results/{ds}/logs/tables.log",
    conda:
        "../../envs/read.yaml"
    resources:
        mem_mb=scaled(1000, 4),
        runtime=scaled(5, 0.1),
    params:
        neuron_filter=neuron_filter,
        species=dataset_species,
    script:
        "../scripts/tables.py"


rule quality:
    input:
        binned=shard_files("results/{ds}/binned/{shard}.h5"),
        neurons="results/{ds}/tables/neurons.parquet",
    output:
        quality="results/{ds}/tables/quality.parquet",
        by_stim="results/{ds}/tables/quality_by_stim.parquet",
    log:
        "results/{ds}/logs/quality.log",
    benchmark:
        "results/{ds}/benchmarks/quality.tsv"
    conda:
        "../../envs/responses.yaml"
    resources:
        mem_mb=scaled(1000, 8),
        runtime=scaled(5, 0.2),
    script:
        "../scripts/quality.py"
