# Neural-network encoding models (the `models:` zoo), one job per (dataset, model, seed).


wildcard_constraints:
    model=r"[A-Za-z0-9_]+",
    seed=r"\d+",


rule model_fit:
    input:
        tables=multiext(
            "results/{ds}/tables/",
            "stims.parquet",
            "neurons.parquet",
            "coverage.parquet",
            "skipped.parquet",
        ),
        spectrograms="results/{ds}/spectrograms.h5",
        responses=shard_files("results/{ds}/responses/{shard}.h5"),
    output:
        weights="results/{ds}/models/{model}/seed{seed}/model.pt",
        config="results/{ds}/models/{model}/seed{seed}/config.json",
        metrics="results/{ds}/models/{model}/seed{seed}/metrics.parquet",
        predictions="results/{ds}/models/{model}/seed{seed}/predictions.h5",
        training_log="results/{ds}/models/{model}/seed{seed}/training_log.csv",
    log:
        "results/{ds}/logs/models/{model}/seed{seed}.log",
    benchmark:
        "results/{ds}/benchmarks/models/{model}/seed{seed}.tsv"
    conda:
        "../../envs/models.yaml"
    threads: 2
    resources:
        mem_mb=scaled(3000, 6, on="responses"),
        runtime=scaled(60, 0.5, on="responses"),
    params:
        format=dataset_format,
        strf=processing("strf"),
        models=model_params,
        checkpoint=model_checkpoint,
    script:
        "../scripts/model_fit.py"


rule model_gather:
    input:
        metrics=model_seeds("results/{ds}/models/{model}/seed{seed}/metrics.parquet"),
    output:
        metrics="results/{ds}/models/{model}/metrics.parquet",
    log:
        "results/{ds}/logs/models/{model}/gather.log",
    benchmark:
        "results/{ds}/benchmarks/models/{model}/gather.tsv"
    conda:
        "../../envs/models.yaml"
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(5),
    script:
        "../scripts/model_gather.py"


rule model_summary:
    input:
        metrics=run_models("results/{ds}/models/{model}/metrics.parquet"),
        logs=run_models("results/{ds}/models/{model}/seed0/training_log.csv"),
        strf="results/{ds}/strf/metrics.parquet",
    output:
        pdf=report(
            "results/{ds}/models/summary.pdf",
            caption="../report/models.rst",
            category="Models",
            labels={"dataset": "{ds}", "figure": "all pages (PDF)"},
        ),
        pages=report(
            expand("results/{{ds}}/models/summary_{page}.png", page=MODEL_PAGES),
            caption="../report/models.rst",
            category="Models",
            subcategory="{ds}",
        ),
    log:
        "results/{ds}/logs/models/summary.log",
    benchmark:
        "results/{ds}/benchmarks/models/summary.tsv"
    conda:
        "../../envs/models.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(10),
    params:
        models=lambda wildcards: MODELS[wildcards.ds]["run"],
    script:
        "../scripts/model_summary.py"


# Training protocols (models.protocols of a dataset; strflow.nn.protocols): one job per
# (dataset, protocol, model, seed), reading the processed data of the protocol's dataset.
rule model_fit_protocol:
    input:
        tables=protocol_input(
            "results/{ds}/tables/stims.parquet",
            "results/{ds}/tables/neurons.parquet",
            "results/{ds}/tables/coverage.parquet",
            "results/{ds}/tables/skipped.parquet",
        ),
        spectrograms=protocol_input("results/{ds}/spectrograms.h5", single=True),
        responses=protocol_input("results/{ds}/responses/{shard}.h5"),
    output:
        weights="results/{ds}/models/{protocol}/{model}/seed{seed}/model.pt",
        config="results/{ds}/models/{protocol}/{model}/seed{seed}/config.json",
        metrics="results/{ds}/models/{protocol}/{model}/seed{seed}/metrics.parquet",
        predictions="results/{ds}/models/{protocol}/{model}/seed{seed}/predictions.h5",
        training_log="results/{ds}/models/{protocol}/{model}/seed{seed}/training_log.csv",
    log:
        "results/{ds}/logs/models/{protocol}/{model}/seed{seed}.log",
    benchmark:
        "results/{ds}/benchmarks/models/{protocol}/{model}/seed{seed}.tsv"
    wildcard_constraints:
        protocol="|".join(PROTOCOL_NAMES) if PROTOCOL_NAMES else "^$",
    conda:
        "../../envs/models.yaml"
    threads: 2
    resources:
        mem_mb=scaled(3000, 6, on="responses"),
        runtime=scaled(60, 0.5, on="responses"),
    params:
        format=protocol_format,
        strf=protocol_processing("strf"),
        models=model_params,
        protocol=protocol_of,
        checkpoint=protocol_checkpoint,
    script:
        "../scripts/model_fit.py"


rule model_gather_protocol:
    input:
        metrics=protocol_seeds(
            "results/{ds}/models/{protocol}/{model}/seed{seed}/metrics.parquet"
        ),
    output:
        metrics="results/{ds}/models/{protocol}/{model}/metrics.parquet",
    log:
        "results/{ds}/logs/models/{protocol}/{model}/gather.log",
    benchmark:
        "results/{ds}/benchmarks/models/{protocol}/{model}/gather.tsv"
    wildcard_constraints:
        protocol="|".join(PROTOCOL_NAMES) if PROTOCOL_NAMES else "^$",
    conda:
        "../../envs/models.yaml"
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(5),
    script:
        "../scripts/model_gather.py"
