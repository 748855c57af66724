from _common import run


def main(smk):
    from pathlib import Path

    from strflow.steps.download import assemble_osf_raw

    assemble_osf_raw({Path(f).name: f for f in smk.input.files}, smk.output[0])


run(snakemake, main)  # noqa: F821
