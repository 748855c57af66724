from _common import run


def main(smk):
    from strflow.nn.steps import model_gather

    model_gather(list(smk.input.metrics), smk.output.metrics)


run(snakemake, main)  # noqa: F821
