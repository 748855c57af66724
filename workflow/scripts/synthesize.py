from _common import run


def main(smk):
    from strflow.steps.synthetic import synthesize

    synthesize(
        smk.output.raw,
        smk.output.ground_truth,
        smk.wildcards.shard,
        smk.params.synthetic,
        smk.params.dt_ms,
        smk.params.spectrogram,
    )


run(snakemake, main)  # noqa: F821
