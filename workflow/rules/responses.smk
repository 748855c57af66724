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
        mem_mb=lambda wc, input, attempt: max(1000, int(20 * input.size_mb)) * attempt,
        runtime=30,
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
        mem_mb=lambda wc, input, attempt: max(1000, int(60 * input.size_mb)) * attempt,
        runtime=30,
    params:
        smoothing=processing("smoothing"),
    script:
        "../scripts/smooth_shard.py"
