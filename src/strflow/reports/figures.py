"""Writing figure pages: one deterministic multi-page PDF plus one PNG per page."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from strflow.store.atomic import atomic_path  # noqa: E402


def save_pages(figs: list, pdf_path: str | Path, png_paths: list[str | Path], dpi: int = 110) -> None:
    """Write ``figs`` atomically; no creation dates or software stamps, so equal inputs
    give byte-identical files."""
    if len(png_paths) != len(figs):
        raise ValueError(f"{len(figs)} pages but {len(png_paths)} PNG paths")
    with atomic_path(pdf_path) as tmp_pdf:
        with PdfPages(tmp_pdf, metadata={"CreationDate": None, "ModDate": None}) as pdf:
            for fig in figs:
                pdf.savefig(fig)
        for fig, png in zip(figs, png_paths):
            with atomic_path(png, suffix=".tmp.png") as tmp:  # matplotlib reads the format from the suffix
                fig.savefig(tmp, dpi=dpi, metadata={"Software": None})
            plt.close(fig)


def band_word(spectrogram_params: dict) -> str:
    """Axis label of one spectrogram band: ``mel band`` or ``cochleagram band`` (the
    ``params`` attribute of ``spectrograms.h5``)."""
    return "cochleagram band" if spectrogram_params.get("kind") == "cochleagram" else "mel band"


# ---------------------------------------------------------------- shared figure helpers

#: Dynamic range shown by :func:`show_spectrogram` (dB below the stimulus' peak).
DISPLAY_RANGE_DB = 60.0


def compression_of(spectrogram_params: dict) -> str:
    """How a stored spectrogram is compressed, for :func:`spectrogram_db`: the mel
    ``compression`` setting, or ``log`` for the cochleagram (stored in dB already)."""
    if spectrogram_params.get("kind") == "cochleagram":
        return "log"
    return spectrogram_params.get("compression", "none")


def spectrogram_db(spec, compression: str):
    """A spectrogram in dB re its own peak, for display only, whatever the stored
    compression (``cubic``: power ** 1/3; ``log``: dB; ``log1p``; ``none``: power).
    Non-positive power maps to -inf (shown at the bottom of the colour scale)."""
    import numpy as np

    spec = np.asarray(spec, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if compression == "log":
            db = spec
        elif compression == "cubic":
            db = 30.0 * np.log10(np.maximum(spec, 0.0))
        elif compression == "log1p":
            db = 10.0 * np.log10(np.expm1(np.maximum(spec, 0.0)))
        else:
            db = 10.0 * np.log10(np.maximum(spec, 0.0))
    finite = db[np.isfinite(db)]
    return db - (finite.max() if finite.size else 0.0)


def freq_ticks(ax, freqs_hz, n: int = 6, label: str = "frequency (Hz)") -> None:
    """Label a band-index y axis (band b spans b-0.5 .. b+0.5) with band centres in Hz."""
    import numpy as np

    freqs_hz = np.asarray(freqs_hz)
    if freqs_hz.size == 0:
        return
    ticks = np.unique(np.linspace(0, freqs_hz.size - 1, n).round().astype(int))
    ax.set_yticks(ticks, [f"{freqs_hz[t]:.0f}" for t in ticks])
    ax.set_ylabel(label)


def show_spectrogram(ax, spec, freqs_hz, compression: str, extent_t: tuple[float, float], colorbar: bool = True):
    """Draw a (F, T) spectrogram in dB re its peak over ``extent_t`` seconds, y axis in Hz,
    with a colour bar; returns the image."""
    db = spectrogram_db(spec, compression)
    im = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", interpolation="nearest",
                   vmin=-DISPLAY_RANGE_DB, vmax=0.0,
                   extent=[extent_t[0], extent_t[1], -0.5, db.shape[0] - 0.5])
    freq_ticks(ax, freqs_hz)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label="dB re peak", fraction=0.05, pad=0.02)
    return im


def integer_axis(axis) -> None:
    """Only whole-number ticks on a count axis (``ax.yaxis`` / ``ax.xaxis``)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def stim_label(meta: dict) -> str:
    """Readable stimulus label for figures: its name and type (never the md5 id)."""
    name = meta.get("name") or meta.get("stim_id", "?")
    kind = "/".join(str(x) for x in dict.fromkeys([meta.get("type"), meta.get("class")]) if x)
    return f"{name} ({kind})" if kind else str(name)
