from _common import run


def main(smk):
    from strflow.reports.model_comparison import write_figure

    settings = smk.params.settings
    write_figure(
        smk.wildcards.ds,
        settings,
        dict(smk.params.protocols),
        list(smk.input.metrics),
        list(smk.input.logs),
        dict(zip(settings["models"], smk.input.predictions)),
        list(smk.input.neurons),
        smk.input.fits,
        smk.input.ridge,
        # the dataset of the ridge fits: example neurons and their test clips
        smk.input.spectrograms.rsplit("/", 1)[0],
        smk.params.criterion,
        smk.output.table,
        smk.output.pdf,
        list(smk.output.pages),
        fmt=smk.params.format,
    )


run(snakemake, main)  # noqa: F821
