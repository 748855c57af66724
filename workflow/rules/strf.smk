# Baseline STRF models (linear and LN) with noise-corrected metrics.


rule strf_fit_chunk:
    input:
        tables=multiext(
            "results/{ds}/tables/",
            "stims.parquet",
            "neurons.parquet",
            "coverage.parquet",
            "skipped.parquet",
            "quality.parquet",
        ),
        spectrograms="results/{ds}/spectrograms.h5",
        responses=shard_files("results/{ds}/responses/{shard}.h5"),
        ground_truth=ground_truth_files,
    output:
        fits="results/{ds}/strf/chunks/{chunk}.h5",
        metrics="results/{ds}/strf/chunks/{chunk}.parquet",
    log:
        "results/{ds}/logs/strf/{chunk}.log",
    benchmark:
        "results/{ds}/benchmarks/strf/{chunk}.tsv"
    wildcard_constraints:
        chunk=r"\d+",
    conda:
        "../../envs/strf.yaml"
    threads: 2
    resources:
        mem_mb=scaled(4000, 8, on="responses"),
        runtime=scaled(20, 0.5, on="responses"),
    params:
        format=dataset_format,
        strf=processing("strf"),
    script:
        "../scripts/strf_fit_chunk.py"


rule strf_gather:
    input:
        fits=strf_chunks("results/{ds}/strf/chunks/{chunk}.h5"),
        metrics=strf_chunks("results/{ds}/strf/chunks/{chunk}.parquet"),
        quality="results/{ds}/tables/quality.parquet",
    output:
        fits="results/{ds}/strf/fits.h5",
        metrics="results/{ds}/strf/metrics.parquet",
    log:
        "results/{ds}/logs/strf/gather.log",
    benchmark:
        "results/{ds}/benchmarks/strf_gather.tsv"
    conda:
        "../../envs/strf.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
    script:
        "../scripts/strf_gather.py"


rule strf_report:
    input:
        fits="results/{ds}/strf/fits.h5",
        metrics="results/{ds}/strf/metrics.parquet",
        spectrograms="results/{ds}/spectrograms.h5",
        responses=shard_files("results/{ds}/responses/{shard}.h5"),
    output:
        pdf=report(
            "results/{ds}/strf/report.pdf",
            caption="../report/strf.rst",
            category="STRF",
            labels={"dataset": "{ds}", "figure": "all pages (PDF)"},
        ),
        pages=report(
            expand("results/{{ds}}/strf/{page}.png", page=STRF_PAGES),
            caption="../report/strf.rst",
            category="STRF",
            subcategory="{ds}",
        ),
    log:
        "results/{ds}/logs/strf/report.log",
    benchmark:
        "results/{ds}/benchmarks/strf_report.tsv"
    conda:
        "../../envs/qc.yaml"
    resources:
        mem_mb=scaled(2000, 2, on="responses"),
        runtime=scaled(10, 0.1, on="responses"),
    script:
        "../scripts/strf_report.py"
