from _common import run


def main(smk):
    from pathlib import Path

    from strflow.steps.download import assemble_release

    assemble_release(smk.params.format, {Path(a).name: a for a in smk.input.archives}, smk.output[0])


run(snakemake, main)  # noqa: F821
