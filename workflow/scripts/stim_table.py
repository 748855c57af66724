from _common import run


def main(smk):
    from strflow.steps.stimuli import stim_table

    stim_table(list(smk.input), smk.params.dt_ms, smk.output[0], smk.params.pre_bins)


run(snakemake, main)  # noqa: F821
