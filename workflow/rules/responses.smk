# Spike binning on the stimulus time grid, then Hanning smoothing, per shard.


rule bin_shard:
    input:
        trials="results/{ds}/interim/{shard}/trials.parquet",
        neurons="results/{ds}/interim/{shard}/neurons.parquet",
        stims="results/{ds}/tables/stims.parquet",
    output:
        binned="results/{ds}/binned/{shard}.h5",
        coverage="results/{ds}/interim/{shard}/coverage.parquet",
    log:
        "results/{ds}/logs/bin/{shard}.log",
    benchmark:
        "results/{ds}/benchmarks/bin/{shard}.tsv"
    conda:
        "../../envs/responses.yaml"
    resources:
        # measured: 47 MB of trials -> 2-5 s, 580-810 MB RSS at dt 5-1 ms
        mem_mb=scaled(1000, 16, on="trials"),
        runtime=scaled(5, 0.2, on="trials"),
    params:
        dt_ms=dt_ms,
    script:
        "../scripts/bin_shard.py"


rule smooth_shard:
    input:
        "results/{ds}/binned/{shard}.h5",
    output:
        "results/{ds}/responses/{shard}.h5",
    log:
        "results/{ds}/logs/smooth/{shard}.log",
    benchmark:
        "results/{ds}/benchmarks/smooth/{shard}.tsv"
    conda:
        "../../envs/responses.yaml"
    resources:
        # measured: 9-45 MB binned -> 2-6 s, 145-175 MB RSS
        mem_mb=scaled(1000, 40),
        runtime=scaled(5, 0.2),
    params:
        smoothing=processing("smoothing"),
    script:
        "../scripts/smooth_shard.py"
