# Multi-page QC report drawn from the dataset API.


rule qc:
    input:
        tables=multiext(
            "results/{ds}/tables/",
            "stims.parquet",
            "neurons.parquet",
            "coverage.parquet",
            "skipped.parquet",
        ),
        quality="results/{ds}/tables/quality.parquet",
        spectrograms="results/{ds}/spectrograms.h5",
        responses=shard_files("results/{ds}/responses/{shard}.h5"),
    output:
        pdf=report(
            "results/{ds}/qc.pdf",
            caption="../report/qc.rst",
            category="QC",
            labels={"dataset": "{ds}", "figure": "all pages (PDF)"},
        ),
        pages=report(
            expand("results/{{ds}}/qc/{page}.png", page=QC_PAGES),
            caption="../report/qc.rst",
            category="QC",
            subcategory="{ds}",
        ),
    log:
        "results/{ds}/logs/qc.log",
    benchmark:
        "results/{ds}/benchmarks/qc.tsv"
    conda:
        "../../envs/qc.yaml"
    resources:
        mem_mb=scaled(2000, 2, on="responses"),
        runtime=scaled(10, 0.1, on="responses"),
    script:
        "../scripts/qc.py"
