# Downloads of real datasets (source: crcns): run on the submitting (login) node.


localrules:
    download_aa4_animal,
    extract_aa4_animal,
    download_osf_file,
    assemble_osf_raw,
    download_crcns_release_file,
    assemble_crcns_release,


rule download_aa4_animal:
    output:
        archive="results/{ds}/downloads/{shard}.tar.gz",
        sha256="results/{ds}/downloads/{shard}.tar.gz.sha256",
    log:
        "results/{ds}/logs/download/{shard}.log",
    benchmark:
        "results/{ds}/benchmarks/download/{shard}.tsv"
    wildcard_constraints:
        ds="|".join(AA4_DOWNLOADED) if AA4_DOWNLOADED else "^$",
    retries: 3
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=scaled(500),
        runtime=scaled(120),
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
        ds="|".join(AA4_DOWNLOADED) if AA4_DOWNLOADED else "^$",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=scaled(500),
        runtime=scaled(60),
    script:
        "../scripts/extract_archive.py"


rule download_osf_file:
    output:
        archive="results/{ds}/downloads/{name}",
        sha256="results/{ds}/downloads/{name}.sha256",
    log:
        "results/{ds}/logs/download/{name}.log",
    benchmark:
        "results/{ds}/benchmarks/download/{name}.tsv"
    wildcard_constraints:
        ds="|".join(FROM_OSF) if FROM_OSF else "^$",
        name="|".join(OSF_FILES),
    retries: 3
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=scaled(500),
        runtime=scaled(60),
    params:
        url_path=osf_guid,
        download=osf_download_settings,
    script:
        "../scripts/download_archive.py"


rule assemble_osf_raw:
    input:
        files=expand("results/{{ds}}/downloads/{name}", name=OSF_FILES),
        sha256=expand("results/{{ds}}/downloads/{name}.sha256", name=OSF_FILES),
    output:
        directory("results/{ds}/raw"),
    log:
        "results/{ds}/logs/download/assemble.log",
    benchmark:
        "results/{ds}/benchmarks/download/assemble.tsv"
    wildcard_constraints:
        ds="|".join(FROM_OSF) if FROM_OSF else "^$",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(30),
    script:
        "../scripts/assemble_osf_raw.py"


rule download_crcns_release_file:
    output:
        archive="results/{ds}/downloads/{name}",
        sha256="results/{ds}/downloads/{name}.sha256",
    log:
        "results/{ds}/logs/download/{name}.log",
    benchmark:
        "results/{ds}/benchmarks/download/{name}.tsv"
    wildcard_constraints:
        ds="|".join(CRCNS_TEXT) if CRCNS_TEXT else "^$",
        name="|".join(n for names in CRCNS_RELEASE_FILES.values() for n in names),
    retries: 3
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=scaled(500),
        runtime=scaled(60),
    params:
        url_path=crcns_release_url,
        download=download_settings,
    script:
        "../scripts/download_archive.py"


rule assemble_crcns_release:
    input:
        archives=crcns_release_archives,
        sha256=crcns_release_shas,
    output:
        directory("results/{ds}/raw"),
    log:
        "results/{ds}/logs/download/assemble.log",
    benchmark:
        "results/{ds}/benchmarks/download/assemble.tsv"
    wildcard_constraints:
        ds="|".join(CRCNS_TEXT) if CRCNS_TEXT else "^$",
    conda:
        "../../envs/download.yaml"
    resources:
        mem_mb=scaled(1000),
        runtime=scaled(30),
    params:
        format=dataset_format,
    script:
        "../scripts/assemble_crcns_release.py"
