from _common import run


def main(smk):
    from strflow.steps.nwb import nwb_export

    nwb_export(smk.params.dataset_dir, smk.params.format, smk.params.shards, smk.params.settings,
               smk.params.provenance, smk.output[0], raw_dir=smk.params.raw_dir)


run(snakemake, main)  # noqa: F821
