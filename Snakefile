# strflow: public auditory neurophysiology datasets -> analysis-ready data.
# Rules live in workflow/rules/, their logic in src/strflow/ (see README.md).
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


# The repository's config.yaml always provides the defaults (also when running with
# --directory elsewhere); files given with --configfile are merged over it.
configfile: Path(workflow.basedir) / "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/synthetic.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/read.smk"
include: "workflow/rules/stimuli.smk"
include: "workflow/rules/responses.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/qc.smk"
include: "workflow/rules/strf.smk"
include: "workflow/rules/nwb.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        expand("results/{ds}/qc.pdf", ds=config.get("targets", [])),
        strf_reports_present,
    localrule: True


# A target under results/ whose dataset is not configured (a typo) would otherwise be a
# bare MissingRuleException: this rule matches it and stops with the configured names.
rule unknown_dataset:
    input:
        unknown_dataset_error,
    output:
        "results/{unknown}/{path}",
    log:
        "results/{unknown}/logs/unknown_dataset/{path}.log",
    wildcard_constraints:
        unknown=NOT_A_DATASET,
        path=".+",
    localrule: True
    conda:
        "envs/read.yaml"
    resources:
        mem_mb=100,
        runtime=1,
    shell:
        "false"
