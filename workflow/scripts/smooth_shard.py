from _common import run


def main(smk):
    from strflow.steps.responses import smooth_shard

    smooth_shard(smk.input[0], smk.params.smoothing, smk.output[0])


run(snakemake, main)  # noqa: F821
