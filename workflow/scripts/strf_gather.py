from _common import run


def main(smk):
    from strflow.steps.strf import strf_gather

    strf_gather(list(smk.input.fits), list(smk.input.metrics), smk.input.quality, smk.output.fits, smk.output.metrics)


run(snakemake, main)  # noqa: F821
