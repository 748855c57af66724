from _common import run


def main(smk):
    from strflow.steps.nwb import waveforms

    waveforms(smk.input.stims, smk.params.raw_dir, smk.params.dt_ms, smk.output[0])


run(snakemake, main)  # noqa: F821
