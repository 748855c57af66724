from _common import run


def main(smk):
    from strflow.reports.strf_report import write_report

    write_report(smk.input.spectrograms.rsplit("/", 1)[0], smk.input.fits, smk.input.metrics, smk.output.pdf, list(smk.output.pages))


run(snakemake, main)  # noqa: F821
