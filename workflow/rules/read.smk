# Raw files of one shard (an AA4 bird) -> interim spike-train and metadata tables.


rule read_shard:
    input:
        raw=raw_shard,
    output:
        trials="results/{ds}/interim/{shard}/trials.parquet",
        neurons="results/{ds}/interim/{shard}/neurons.parquet",
        stims="results/{ds}/interim/{shard}/stims.parquet",
        skipped="results/{ds}/interim/{shard}/skipped.parquet",
    log:
        "results/{ds}/logs/read/{shard}.log",
    benchmark:
        "results/{ds}/benchmarks/read/{shard}.tsv"
    conda:
        "../../envs/read.yaml"
    resources:
        # measured: 540 MB bird -> 35 s, 150 MB RSS (one unit file in memory at a time)
        mem_mb=scaled(500, 0.5, on="raw"),
        runtime=scaled(10, 0.02, on="raw"),
    params:
        format=dataset_format,
        raw_dir=raw_dir,
        reading=processing("reading"),
        raw_fingerprint=raw_fingerprint,
    script:
        "../scripts/read_shard.py"
