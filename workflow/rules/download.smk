# Downloads of real datasets (source: crcns): run on the submitting (login) node.


localrules:
    download_aa4_animal,
    extract_aa4_animal,


rule download_aa4_animal:
    output:
        archive="results/{ds}/downloads/{shard}.tar.gz",
        sha256="results/{ds}/downloads/{shard}.tar.gz.sha256",
    log:
        "results/{ds}/logs/download/{shard}.log",
    benchmark:
        "results/{ds}/benchmarks/download/{shard}.tsv"
    wildcard_constraints:
        ds="|".join(DOWNLOADED) if DOWNLOADED else "^$",
    retries: 3
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=500,
        runtime=120,
    params:
        url_path=aa4_archive_path,
        download=download_settings,
    script:
        "../scripts/download_archive.py"


rule extract_aa4_animal:
    input:
        archive="results/{ds}/downloads/{shard}.tar.gz",
        sha256="results/{ds}/downloads/{shard}.tar.gz.sha256",
    output:
        directory("results/{ds}/raw/{shard}"),
    log:
        "results/{ds}/logs/extract/{shard}.log",
    benchmark:
        "results/{ds}/benchmarks/extract/{shard}.tsv"
    wildcard_constraints:
        ds="|".join(DOWNLOADED) if DOWNLOADED else "^$",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=500,
        runtime=60,
    script:
        "../scripts/extract_archive.py"
