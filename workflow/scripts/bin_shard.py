from _common import run


def main(smk):
    from strflow.steps.responses import bin_shard

    bin_shard(smk.input.trials, smk.input.neurons, smk.input.stims, smk.params.dt_ms, smk.output.binned, smk.output.coverage)


run(snakemake, main)  # noqa: F821
