# The dataset's stimulus table and one spectrogram per unique stimulus.


rule stim_table:
    input:
        shard_files("results/{ds}/interim/{shard}/stims.parquet"),
    output:
        "results/{ds}/tables/stims.parquet",
    log:
        "results/{ds}/logs/stim_table.log",
    conda:
        "../../envs/read.yaml"
    resources:
        mem_mb=scaled(500),
        runtime=scaled(5),
    params:
        dt_ms=dt_ms,
        pre_bins=pre_stim_bins,
    script:
        "../scripts/stim_table.py"


rule spectrograms:
    input:
        stims="results/{ds}/tables/stims.parquet",
        raw=raw_shards,
    output:
        "results/{ds}/spectrograms.h5",
    log:
        "results/{ds}/logs/spectrograms.log",
    benchmark:
        "results/{ds}/benchmarks/spectrograms.tsv"
    conda:
        "../../envs/spectrogram.yaml"
    resources:
        # grows with the stimulus count, not the raw size: 170 stimuli -> 4.5 s, 345 MB
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        raw_dir=raw_dir,
        dt_ms=dt_ms,
        spectrogram=processing("spectrogram"),
    script:
        "../scripts/spectrograms.py"
