from _common import run


def main(smk):
    from strflow.steps.tables import quality

    quality(list(smk.input.binned), smk.input.neurons, smk.output.quality, smk.output.by_stim)


run(snakemake, main)  # noqa: F821
