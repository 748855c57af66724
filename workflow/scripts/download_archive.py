from _common import run


def main(smk):
    from strflow.steps.download import download_archive

    # credentials come from the environment inside the job, never from params or logs
    download_archive(smk.params.url_path, smk.output.archive, smk.output.sha256, smk.params.download)


run(snakemake, main, tee_terminal=True)  # noqa: F821
