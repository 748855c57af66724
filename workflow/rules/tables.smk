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
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/tables.py"
