from _common import run


def main(smk):
    from strflow.steps.strf import strf_fit_chunk

    strf_fit_chunk(
        smk.input.spectrograms.rsplit("/", 1)[0],
        smk.params.format,
        smk.params.strf,
        int(smk.wildcards.chunk),
        list(smk.input.ground_truth),
        smk.output.fits,
        smk.output.metrics,
    )


run(snakemake, main)  # noqa: F821
