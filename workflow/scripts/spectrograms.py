from _common import run


def main(smk):
    from strflow.steps.stimuli import spectrograms

    spectrograms(smk.input.stims, smk.params.raw_dir, smk.params.dt_ms, smk.params.spectrogram, smk.output[0])


run(snakemake, main)  # noqa: F821
