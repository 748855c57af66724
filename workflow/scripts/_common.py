# Shared by the rule scripts: make `strflow` importable (also inside a per-rule conda
# environment, where the package is not installed) and route logging, warnings and
# stderr to the rule's log file.

import logging
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))


class _Tee:
    """Write to the log file and to the terminal (progress bars of long transfers)."""

    def __init__(self, *streams) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()


def run(snakemake, main, tee_terminal: bool = False) -> None:
    log_path = snakemake.log[0]
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    stream = open(log_path, "w", buffering=1)
    sys.stderr = _Tee(stream, sys.__stderr__) if tee_terminal else stream
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    # Provenance: where the job ran (on a cluster, which SLURM job it was).
    slurm = f", SLURM job {os.environ['SLURM_JOB_ID']}" if "SLURM_JOB_ID" in os.environ else ""
    logging.getLogger("strflow").info("rule %s on host %s%s", snakemake.rule, platform.node(), slurm)
    try:
        main(snakemake)
    except Exception:
        logging.getLogger("strflow").exception("rule %s failed", snakemake.rule)
        raise
