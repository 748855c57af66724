"""Benchmark (not a test): NWB export and import of the full NS1 dataset.

    .venv/bin/python tests/benchmarks/bench_nwb.py --data ../shared/data/ns1_harper2016

Builds the NS1 tables and spectrograms with Snakemake (every unit of the copy, no
neuron filter, dt 5 ms), then times, in this process, the export
(``strflow.steps.nwb_export``: every unit, presentation, waveform and spectrogram) and
the import (``strflow.io.readers.nwb.read_nwb``), best of ``--repeats``; prints wall and
CPU seconds (the latter matters on a shared machine), files and sizes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import REPO, snakemake  # noqa: E402

sys.path.insert(0, str(REPO / "src"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="folder with MetadataSHEnCneurons.mat and spikesandwav/")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/strflow-bench-nwb"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    name = "ns1_all"
    entry = dict(format="ns1", source="local", path=str(args.data.resolve()))
    cfg = args.workdir / "bench.yaml"
    cfg.write_text(yaml.safe_dump(dict(targets=[], datasets={name: entry})))
    results = args.workdir / "results" / name
    prep = snakemake(args.workdir, cfg, args.cores, [f"results/{name}/{t}" for t in
                                                    ("tables/coverage.parquet", "tables/stims.parquet", "spectrograms.h5")])
    print(f"NS1 tables + spectrograms (Snakemake, {args.cores} cores): {prep:.1f} s")

    from strflow.io.readers.nwb import read_nwb
    from strflow.steps.nwb import nwb_export

    out = results / "nwb_bench"
    export_s, import_s, export_cpu = [], [], []
    for _ in range(args.repeats):
        shutil.rmtree(out, ignore_errors=True)
        t, c = time.perf_counter(), time.process_time()
        nwb_export(results, "ns1", ["all"], dict(waveforms="embed"), dict(dataset=name), out, raw_dir=args.data)
        export_s.append(time.perf_counter() - t)
        export_cpu.append(time.process_time() - c)
        t = time.perf_counter()
        shard = read_nwb(out)
        import_s.append(time.perf_counter() - t)
    files = sorted(out.rglob("*.nwb"))
    size = sum(f.stat().st_size for f in files) / 1e6
    print(f"units {shard.neurons.num_rows}, trials {shard.trials.num_rows}, stimuli {shard.stims.num_rows}")
    print(f"export: best {min(export_s):.2f} s (runs: {', '.join(f'{x:.2f}' for x in export_s)}), "
          f"{len(files)} NWB files, {size:.1f} MB; CPU time best {min(export_cpu):.2f} s")
    print(f"import (read_nwb): best {min(import_s):.2f} s (runs: {', '.join(f'{x:.2f}' for x in import_s)})")


if __name__ == "__main__":
    main()
