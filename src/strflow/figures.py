"""Writing figure pages: one deterministic multi-page PDF plus one PNG per page."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402


def save_pages(figs: list, pdf_path: str | Path, png_paths: list[str | Path], dpi: int = 110) -> None:
    """Write ``figs`` atomically; no creation dates or software stamps, so equal inputs
    give byte-identical files."""
    if len(png_paths) != len(figs):
        raise ValueError(f"{len(figs)} pages but {len(png_paths)} PNG paths")
    pdf_path = Path(pdf_path)
    tmp_pdf = pdf_path.with_name(pdf_path.name + ".tmp")
    with PdfPages(tmp_pdf, metadata={"CreationDate": None, "ModDate": None}) as pdf:
        for fig in figs:
            pdf.savefig(fig)
    for fig, png in zip(figs, png_paths):
        png = Path(png)
        png.parent.mkdir(parents=True, exist_ok=True)
        tmp = png.with_name(png.name + ".tmp.png")
        fig.savefig(tmp, dpi=dpi, metadata={"Software": None})
        tmp.replace(png)
        plt.close(fig)
    tmp_pdf.replace(pdf_path)


def band_word(spectrogram_params: dict) -> str:
    """Axis label of one spectrogram band: ``mel band`` or ``cochleagram band`` (the
    ``params`` attribute of ``spectrograms.h5``)."""
    return "cochleagram band" if spectrogram_params.get("kind") == "cochleagram" else "mel band"
