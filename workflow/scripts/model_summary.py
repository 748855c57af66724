from _common import run


def main(smk):
    from strflow.nn.summary import write_summary

    models = list(smk.params.models)
    write_summary(
        smk.wildcards.ds,
        models,
        list(smk.input.metrics),
        dict(zip(models, smk.input.logs)),
        smk.input.strf,
        smk.output.pdf,
        list(smk.output.pages),
    )


run(snakemake, main)  # noqa: F821
