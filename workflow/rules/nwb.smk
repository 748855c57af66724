# NWB export (one file per subject/session) and grid-rate stimulus waveforms.


rule waveforms:
    input:
        stims="results/{ds}/tables/stims.parquet",
        raw=raw_shards,
    output:
        "results/{ds}/waveforms.h5",
    log:
        "results/{ds}/logs/waveforms.log",
    benchmark:
        "results/{ds}/benchmarks/waveforms.tsv"
    conda:
        "../../envs/spectrogram.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        raw_dir=raw_dir,
        dt_ms=dt_ms,
    script:
        "../scripts/waveforms.py"


rule nwb_export:
    input:
        neurons="results/{ds}/tables/neurons.parquet",
        stims="results/{ds}/tables/stims.parquet",
        coverage="results/{ds}/tables/coverage.parquet",
        spectrograms="results/{ds}/spectrograms.h5",
        trials=shard_files("results/{ds}/interim/{shard}/trials.parquet"),
        registry=shard_files("results/{ds}/interim/{shard}/stims.parquet"),
        responses=nwb_responses,
        raw=raw_shards,
    output:
        directory("results/{ds}/nwb"),
    log:
        "results/{ds}/logs/nwb_export.log",
    benchmark:
        "results/{ds}/benchmarks/nwb_export.tsv"
    conda:
        "../../envs/nwb.yaml"
    resources:
        mem_mb=scaled(1000, 4, on="trials"),
        runtime=scaled(10, 0.1, on="trials"),
    params:
        dataset_dir=dataset_dir,
        format=dataset_format,
        shards=lambda wildcards: list(shards(wildcards.ds)),
        settings=nwb_settings,
        provenance=nwb_provenance,
        raw_dir=raw_dir,
    script:
        "../scripts/nwb_export.py"
