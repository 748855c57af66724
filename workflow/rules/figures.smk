# Figures across models and protocols (issue 13): results/<ds>/figures/.


rule model_comparison:
    input:
        metrics=comparison_files("metrics.parquet"),
        logs=comparison_files("training_log.csv"),
        predictions=comparison_predictions,
        neurons=comparison_tables,
        fits="results/{ds}/strf/fits.h5",
        ridge="results/{ds}/strf/metrics.parquet",
        spectrograms="results/{ds}/spectrograms.h5",
        responses=shard_files("results/{ds}/responses/{shard}.h5"),
    output:
        table="results/{ds}/figures/model_comparison.parquet",
        pdf=report(
            "results/{ds}/figures/model_comparison.pdf",
            caption="../report/model_comparison.rst",
            category="Model comparison",
            labels={"dataset": "{ds}", "figure": "all pages (PDF)"},
        ),
        pages=report(
            expand(
                "results/{{ds}}/figures/model_comparison_{page}.png",
                page=COMPARISON_PAGES,
            ),
            caption="../report/model_comparison.rst",
            category="Model comparison",
            subcategory="{ds}",
        ),
    log:
        "results/{ds}/logs/figures/model_comparison.log",
    benchmark:
        "results/{ds}/benchmarks/figures/model_comparison.tsv"
    conda:
        "../../envs/models.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
    params:
        settings=comparison_settings,
        protocols=lambda wildcards: {
            p: MODELS[wildcards.ds]["protocols"][p]
            for p in comparison_settings(wildcards)["protocols"]
        },
        criterion=comparison_criterion,
        format=dataset_format,
    script:
        "../scripts/model_comparison.py"
