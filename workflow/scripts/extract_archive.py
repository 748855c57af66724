from _common import run


def main(smk):
    from strflow.steps.download import extract_archive

    # the per-bird tarball wraps everything in <AnimalID>/
    extract_archive(smk.input.archive, smk.input.sha256, smk.output[0], strip_components=1)


run(snakemake, main)  # noqa: F821
