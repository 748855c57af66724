from _common import run


def main(smk):
    from strflow.steps.read import read_shard

    read_shard(smk.params.format, smk.params.raw_dir, smk.wildcards.shard, smk.params.reading, dict(smk.output.items()))


run(snakemake, main)  # noqa: F821
