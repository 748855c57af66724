from _common import run


def main(smk):
    from strflow.steps.tables import gather_tables

    gather_tables(list(smk.input.neurons), list(smk.input.skipped), list(smk.input.coverage), dict(smk.output.items()), smk.params.neuron_filter,
                  smk.params.species)


run(snakemake, main)  # noqa: F821
