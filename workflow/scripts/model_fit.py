from _common import run


def main(smk):
    from strflow.nn.steps import model_fit

    model_fit(
        smk.input.spectrograms.rsplit("/", 1)[0],
        smk.params.format,
        smk.params.strf,
        smk.params.models,
        smk.wildcards.model,
        int(smk.wildcards.seed),
        smk.threads,
        dict(smk.output),
        smk.params.checkpoint,
        # rule model_fit_protocol: the training protocol (strflow.nn.protocols)
        protocol=getattr(smk.params, "protocol", None),
        ds_name=smk.wildcards.ds,
    )


run(snakemake, main, tee_terminal=True)  # noqa: F821
