"""Shared by the rule scripts: make ``strflow`` importable (also inside a per-rule
conda environment, where the package is not installed) and route logging, warnings
and stderr to the rule's log file."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))


def run(snakemake, main) -> None:
    log_path = snakemake.log[0]
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    stream = open(log_path, "w", buffering=1)
    sys.stderr = stream
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    try:
        main(snakemake)
    except Exception:
        logging.getLogger("strflow").exception("rule %s failed", snakemake.rule)
        raise
