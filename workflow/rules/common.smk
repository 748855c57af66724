# Helper functions shared by the rules (no rules in this file).
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from strflow import provenance  # noqa: E402
from strflow import resources as job_resources  # noqa: E402
from strflow.config import dataset_settings  # noqa: E402
from strflow.steps.download import CRCNS_RELEASE_FILES, OSF_FILES  # noqa: E402

SETTINGS = {name: dataset_settings(config, name) for name in config["datasets"]}
SYNTHETIC = [name for name, s in SETTINGS.items() if s.source == "synthetic"]
DOWNLOADED = [n for n, s in SETTINGS.items() if s.source == "crcns"]
CRCNS_TEXT = [n for n in DOWNLOADED if SETTINGS[n].format in ("aa1", "aa2")]
AA4_DOWNLOADED = [n for n in DOWNLOADED if SETTINGS[n].format == "aa4"]
FROM_OSF = [n for n, s in SETTINGS.items() if s.source == "osf" and s.format == "ns1"]
QC_PAGES = [
    "1_summary",
    "2_cell",
    "3_population",
    "4_population_by_electrode",
    "5_coverage",
]
STRF_PAGES = ["1_summary", "2_ccnorm_vs_ccabs", "3_strfs", "4_predictions"]


wildcard_constraints:
    ds="|".join(map(re.escape, SETTINGS)),
    shard="[^/]+",


# a results/ folder name that is not a configured dataset (see rule unknown_dataset)
NOT_A_DATASET = "(?!(?:%s)/)[^/]+" % "|".join(map(re.escape, SETTINGS))


def unknown_dataset_error(wildcards):
    raise WorkflowError(
        f"'results/{wildcards.unknown}/{wildcards.path}': {wildcards.unknown!r} is not a configured dataset. "
        f"Configured datasets: {', '.join(SETTINGS)}. Add it under 'datasets:' in a config file passed with "
        "--configfile, or fix the target's spelling."
    )


def scaled(base, per_mb=0.0, on=None):
    """Resource callable: ceil(base + per_mb * size of the input `on`, or of all
    input, in MB) * attempt.  Calibrated on the full-scale AA4 benchmark with ample headroom
    (tests/benchmarks/bench_aa4_workflow.py); retries get proportionally more."""

    def get(wildcards, input, attempt):
        files = input if on is None else input[on]
        size = job_resources.size_mb(files) if per_mb else 0.0
        return job_resources.estimate(base, per_mb, size, attempt)

    return get


def settings(wildcards):
    return SETTINGS[wildcards.ds]


def shards(ds):
    return SETTINGS[ds].shards


def processing(key):
    """Input/params function returning one processing block of the dataset."""

    def get(wildcards):
        return SETTINGS[wildcards.ds].processing[key]

    return get


def dt_ms(wildcards):
    return SETTINGS[wildcards.ds].dt_ms


def pre_stim_bins(wildcards):
    return SETTINGS[wildcards.ds].pre_stim_bins


def raw_dir(wildcards):
    return SETTINGS[wildcards.ds].raw_dir


def raw_shard_path(ds, shard):
    """The raw folder of one shard; a clear error when a real dataset is absent."""
    s = SETTINGS[ds]
    # AA4 has one raw folder per bird; the other formats are a single release folder.
    path = f"{s.raw_dir}/{shard}" if s.format == "aa4" else s.raw_dir
    if s.name in DOWNLOADED and not Path(path).is_dir():
        # produced by the download rules; stop now (before any request) without a login
        if not (os.environ.get("CRCNS_USERNAME") and os.environ.get("CRCNS_PASSWORD")):
            raise WorkflowError(
                f"Dataset '{s.name}' must be downloaded from CRCNS, but the CRCNS credentials are "
                "missing: set CRCNS_USERNAME and CRCNS_PASSWORD (free account at "
                "https://crcns.org/register), or use source: local with an extracted copy."
            )
    elif s.name in FROM_OSF:
        pass  # produced by the OSF download rules (no account needed)
    elif s.source == "local" and path in {f"results/{n}/raw" for n in FROM_OSF}:
        pass  # another entry's OSF download (e.g. ns1_all reads ns1's raw folder)
    elif s.source != "synthetic" and not (
        Path(path).is_dir() or (s.format == "nwb" and Path(path).is_file())
    ):
        raise WorkflowError(
            f"Dataset '{s.name}' ({s.format}, source: {s.source}): raw folder '{path}' not found. "
            f"Extract the release so that '{s.raw_dir}' holds it"
            + (" ('<AnimalID>/' folders of unit files)" if s.format == "aa4" else "")
            + ", "
            f"or point 'datasets.{s.name}.path' (source: local) at an existing extracted copy "
            "in a config file passed with --configfile. strflow never substitutes synthetic data."
        )
    # ancient(): the folder's own mtime says nothing about its files (and a re-extraction
    # must not rerun everything); what is inside is tracked by raw_fingerprint (a param
    # of read_shard) instead.  Synthetic raw data is produced by a rule.
    return path if s.source == "synthetic" else ancient(path)


def raw_shard(wildcards):
    return raw_shard_path(wildcards.ds, wildcards.shard)


def raw_fingerprint(wildcards):
    """Names, sizes and mtimes of the shard's raw files (strflow.provenance): a file
    fixed, restored or added reruns this shard's read and what depends on it, although
    the folder is an ancient() input.  Synthetic raw data is a rule's output already."""
    s = SETTINGS[wildcards.ds]
    if s.source == "synthetic":
        return ""
    path = f"{s.raw_dir}/{wildcards.shard}" if s.format == "aa4" else s.raw_dir
    return provenance.fingerprint(path)


def raw_shards(wildcards):
    return [raw_shard_path(wildcards.ds, shard) for shard in shards(wildcards.ds)]


def shard_files(pattern):
    """Input function expanding a per-shard path over every shard of the dataset."""

    def get(wildcards):
        return expand(pattern, ds=wildcards.ds, shard=shards(wildcards.ds))

    return get


def synthetic_spec(wildcards):
    return SETTINGS[wildcards.ds].synthetic


def synthetic_model(key):
    """The generator's spike model uses the workflow's default processing settings
    (top-level `processing:`), not the dataset's overrides: the synthetic experiment
    stays fixed while a user varies the analysis of it."""

    def get(wildcards):
        return config["processing"][key]

    return get


def dataset_format(wildcards):
    return SETTINGS[wildcards.ds].format


def dataset_species(wildcards):
    return SETTINGS[wildcards.ds].species


def neuron_filter(wildcards):
    return config["datasets"][wildcards.ds].get("neuron_filter") or {}


def ground_truth_files(wildcards):
    """Synthetic datasets: the generator's truth, for STRF recovery (gt_corr)."""
    s = SETTINGS[wildcards.ds]
    if s.source != "synthetic":
        return []
    return expand(
        "results/{ds}/ground_truth/{shard}.h5", ds=wildcards.ds, shard=s.shards
    )


def strf_chunks(pattern):
    """Scatter: one STRF fit per chunk of neurons (processing.strf.n_chunks)."""

    def get(wildcards):
        n = SETTINGS[wildcards.ds].processing["strf"]["n_chunks"]
        return expand(pattern, ds=wildcards.ds, chunk=range(n))

    return get


def download_settings(wildcards):
    return config.get("download", {})


def aa4_archive_path(wildcards):
    return f"aa-4/{wildcards.shard}.tar.gz"


def osf_guid(wildcards):
    return OSF_FILES[wildcards.name]


def osf_download_settings(wildcards):
    return dict(config.get("download", {}), protocol="osf")


def crcns_release_url(wildcards):
    return f"aa-{SETTINGS[wildcards.ds].format[-1]}/{wildcards.name}"


def crcns_release_archives(wildcards):
    names = CRCNS_RELEASE_FILES[SETTINGS[wildcards.ds].format]
    return expand("results/{ds}/downloads/{name}", ds=wildcards.ds, name=names)


def crcns_release_shas(wildcards):
    return [f"{p}.sha256" for p in crcns_release_archives(wildcards)]


# NWB export (workflow/rules/nwb.smk)
def nwb_settings(wildcards):
    return SETTINGS[wildcards.ds].processing.get("nwb", {})


def nwb_responses(wildcards):
    """The smoothed responses, when processing.nwb.responses asks for them."""
    if not nwb_settings(wildcards).get("responses"):
        return []
    return expand(
        "results/{ds}/responses/{shard}.h5", ds=wildcards.ds, shard=shards(wildcards.ds)
    )


def nwb_provenance(wildcards):
    """Recorded in every NWB file: the dataset's config entry and resolved settings."""
    s = SETTINGS[wildcards.ds]
    return dict(
        dataset=s.name,
        config_entry=config["datasets"][s.name],
        processing=s.processing,
    )


def dataset_dir(wildcards):
    return f"results/{wildcards.ds}"


def strf_reports_present(wildcards):
    """STRF reports of the `targets` datasets whose STRF outputs exist: `rule all`
    asks for them, so `snakemake --report` shows the STRF pages whenever they exist
    (and a default run keeps them up to date), without fitting anything new."""
    return [
        f"results/{ds}/strf/report.pdf"
        for ds in config.get("targets", [])
        if Path(f"results/{ds}/strf/metrics.parquet").is_file()
        and Path(f"results/{ds}/strf/fits.h5").is_file()
    ]


# --- encoding models (workflow/rules/models.smk)
from strflow.nn.steps import model_settings  # noqa: E402

MODELS = {name: model_settings(config, name) for name in config["datasets"]}
MODEL_PAGES = ["1_ccnorm", "2_vs_ln", "3_learning_curves"]


def models_of(wildcards):
    return MODELS[wildcards.ds]


def model_params(wildcards):
    """What one training job uses of the models block (its own zoo entry only): a change
    to another model's settings does not retrain this one."""
    m = MODELS[wildcards.ds]
    if wildcards.model not in m["zoo"]:
        raise WorkflowError(
            f"dataset {wildcards.ds!r}: model {wildcards.model!r} is not in models.zoo or models.run "
            f"of the config (known: {', '.join(sorted(m['zoo']))})"
        )
    return dict(
        device=m["device"],
        val_fraction=m["val_fraction"],
        train=m.get("train") or {},
        zoo={wildcards.model: m["zoo"][wildcards.model]},
    )


def model_seeds(pattern):
    """Gather: every seed (models.seeds) of one model."""

    def get(wildcards):
        n = int(MODELS[wildcards.ds]["seeds"])
        return expand(pattern, ds=wildcards.ds, model=wildcards.model, seed=range(n))

    return get


def run_models(pattern):
    """Summary: every model listed in models.run of the dataset."""

    def get(wildcards):
        return expand(pattern, ds=wildcards.ds, model=MODELS[wildcards.ds]["run"])

    return get


def model_checkpoint(wildcards):
    # not an output: it survives a failed or killed job and is resumed from
    return f"results/{wildcards.ds}/models/{wildcards.model}/seed{wildcards.seed}.checkpoint.pt"


# --- training protocols and the model-comparison figure (workflow/rules/models.smk,
# workflow/rules/figures.smk; strflow.nn.protocols, strflow.reports.model_comparison)
PROTOCOL_NAMES = sorted({p for m in MODELS.values() for p in m["protocols"]})


def protocol_of(wildcards):
    protocols = MODELS[wildcards.ds]["protocols"]
    if wildcards.protocol not in protocols:
        raise WorkflowError(
            f"dataset {wildcards.ds!r} has no training protocol {wildcards.protocol!r} "
            f"(its models.protocols: {', '.join(protocols) or 'none'})"
        )
    return protocols[wildcards.protocol]


def protocol_input(*patterns, single=False):
    """Input function: a file of the dataset the protocol reads (`dataset:`, default the
    entry's own), `pattern` formatted with ds= that dataset (and shard= its shards);
    `single`: one path (a string)."""

    def get(wildcards):
        src = protocol_of(wildcards)["dataset"]
        if src not in SETTINGS:
            raise WorkflowError(
                f"dataset {wildcards.ds!r}, protocol {wildcards.protocol!r}: dataset {src!r} is not configured"
            )
        paths = [
            p
            for pattern in patterns
            for p in expand(pattern, ds=src, shard=shards(src))
        ]
        return paths[0] if single else paths

    return get


def protocol_format(wildcards):
    return SETTINGS[protocol_of(wildcards)["dataset"]].format


def protocol_processing(key):
    def get(wildcards):
        return SETTINGS[protocol_of(wildcards)["dataset"]].processing[key]

    return get


def protocol_seeds(pattern):
    """Gather: every seed (models.seeds) of one model under one protocol."""

    def get(wildcards):
        n = int(MODELS[wildcards.ds]["seeds"])
        return expand(
            pattern,
            ds=wildcards.ds,
            protocol=wildcards.protocol,
            model=wildcards.model,
            seed=range(n),
        )

    return get


def protocol_checkpoint(wildcards):
    return (
        f"results/{wildcards.ds}/models/{wildcards.protocol}/{wildcards.model}/"
        f"seed{wildcards.seed}.checkpoint.pt"
    )


def comparison_settings(wildcards):
    """The dataset's `figures.model_comparison` block, checked against its protocols."""
    from strflow.reports.model_comparison import resolve_settings

    entry = config["datasets"][wildcards.ds]
    return resolve_settings(
        wildcards.ds,
        (entry.get("figures") or {}).get("model_comparison"),
        MODELS[wildcards.ds],
    )


def comparison_criterion(wildcards):
    """How each protocol of the figure selects its neurons: its dataset's filter, then its own."""
    settings = comparison_settings(wildcards)
    lines = []
    for name in settings["protocols"]:
        prot = MODELS[wildcards.ds]["protocols"][name]
        own = config["datasets"][prot["dataset"]].get("neuron_filter")
        text = f"{name}: {prot['dataset']} ({own or 'all neurons'})"
        if prot["neuron_filter"]:
            text += f", then {prot['neuron_filter']}"
        lines.append(text)
    return "; ".join(lines)


def comparison_files(name):
    """Every (protocol, model, seed) file `name` of the figure."""

    def get(wildcards):
        c = comparison_settings(wildcards)
        return [
            f"results/{wildcards.ds}/models/{p}/{m}/seed{k}/{name}"
            for p in c["protocols"]
            for m in c["models"]
            for k in range(c["seeds"])
        ]

    return get


def comparison_tables(wildcards):
    """The neurons tables of the datasets the protocols read (the noise-ratio page)."""
    c = comparison_settings(wildcards)
    src = sorted(
        {MODELS[wildcards.ds]["protocols"][p]["dataset"] for p in c["protocols"]}
    )
    return [
        f"results/{d}/tables/neurons.parquet" for d in sorted(set(src) | {wildcards.ds})
    ]


COMPARISON_PAGES = ["1_ccnorm", "2_vs_ln", "3_noise_ratio", "4_strfs", "5_predictions"]


def comparison_predictions(wildcards):
    """Seed-0 test predictions of every figure model under the first protocol."""
    c = comparison_settings(wildcards)
    return [
        f"results/{wildcards.ds}/models/{c['protocols'][0]}/{m}/seed0/predictions.h5"
        for m in c["models"]
    ]
