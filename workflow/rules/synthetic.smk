# Synthetic AA4-format data with known ground truth (datasets with source: synthetic).


rule synthesize_shard:
    output:
        raw=directory("results/{ds}/raw/{shard}"),
        ground_truth="results/{ds}/ground_truth/{shard}.h5",
    log:
        "results/{ds}/logs/synthesize/{shard}.log",
    benchmark:
        "results/{ds}/benchmarks/synthesize/{shard}.tsv"
    wildcard_constraints:
        ds="|".join(SYNTHETIC) if SYNTHETIC else "^$",
    conda:
        "../../envs/synthetic.yaml"
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(30),
    params:
        synthetic=synthetic_spec,
        dt_ms=synthetic_model("dt_ms"),
        spectrogram=synthetic_model("spectrogram"),
    script:
        "../scripts/synthesize.py"
