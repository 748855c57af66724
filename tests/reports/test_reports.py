"""Issue 11, "Outputs a user can trust and read": the STRF and QC reports, the
reliability of the noise ceiling in ``metrics.parquet``, stimulus names, the stimulus
table's integer column and the ``snakemake --report`` configuration.

Fast: hand-built metric rows, neuron tables, spectrograms and small stand-in datasets
(only the attributes a page reads); the figures are inspected as matplotlib objects.
The workflow side (STRF pages in ``snakemake --report``) is checked in
``tests/strf/test_models.py::test_strf_chain_on_demo``.
"""

from __future__ import annotations

import textwrap
from types import SimpleNamespace

import h5py
import jinja2
import matplotlib
from tests.helpers import REPO


matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from strflow.reports import qc, strf_report  # noqa: E402
from strflow.reports.figures import show_spectrogram, spectrogram_db  # noqa: E402
from strflow.metrics.base import _powers  # noqa: E402
from strflow.metrics.noise_ceiling import signal_power_significance  # noqa: E402
from strflow.strf.split import ceiling_flags  # noqa: E402
from strflow.store.fits import read_fits  # noqa: E402
from strflow.store.tables import STIMS_SCHEMA  # noqa: E402
from strflow.processing.dataset_tables import build_stim_table  # noqa: E402



# ------------------------------------------------------------- STRF: trustworthy examples

def _row(cell, ccnorm, reliable, flags="", model="linear", n_test=4):
    return dict(cell_id=cell, model=model, ccnorm=ccnorm, ccabs=ccnorm * 0.8, ccmax=0.8, ceiling_reliable=reliable,
                flags=flags, n_test_stims=n_test, reason="", penalty_at_edge=False, gt_corr=np.nan, cv_r=0.3)


def test_examples_are_chosen_among_reliable_neurons():
    rows = [
        _row("a", 1.20, False, "ceiling_few_test_stims;ceiling_sp_not_significant;ccnorm_above_1", n_test=3),
        _row("b", 0.97, False, "ceiling_sp_not_significant"),
        _row("c", 1.05, True, "ccnorm_above_1"),  # reliable ceiling, but CCnorm > 1: not an example
        _row("d", 0.90, True), _row("e", 0.70, True), _row("f", 0.50, True), _row("g", 0.30, True),
        _row("h", np.nan, True),
        _row("a", 1.30, False, model="ln"), _row("d", 0.10, True, model="ln"),
    ]
    # reliable, no CCnorm > 1, finite: d .9, e .7, f .5, g .3 -> best d, median (index 4 // 2) f
    assert strf_report.pick_examples(rows) == ([("best", "d"), ("median", "f")], True)
    # nobody reliable: fall back to every linear CCnorm <= 1 (b .97, d, e, f, g), and say so
    unreliable = [dict(r, ceiling_reliable=False) for r in rows]
    assert strf_report.pick_examples(unreliable) == ([("best", "b"), ("median", "e")], False)


def test_ceiling_flags_and_signal_power_significance():
    assert ceiling_flags(3, 2.1, 1.2) == ["ceiling_few_test_stims", "ceiling_sp_not_significant", "ccnorm_above_1"]
    assert ceiling_flags(4, 5.0, 0.99) == [] and ceiling_flags(4, np.nan, np.nan) == ["ceiling_sp_not_significant"]
    rng = np.random.default_rng(3)
    rate = np.exp(rng.normal(size=700)) * 0.2
    blocks = [rng.poisson(rate[:300], (8, 300)).astype(float), rng.poisson(rate[300:], (9, 400)).astype(float)]
    z, p = signal_power_significance(blocks, n_shuffles=99, seed=5)
    # brute force: the documented null, trial by trial with np.roll, same offsets
    g = np.random.default_rng(5)
    cut = [b[:8] for b in blocks]  # common number of repeats, first ones kept
    offsets = [g.integers(0, b.shape[1], size=(99, 8)) for b in cut]
    null = np.array([_powers(np.concatenate([np.stack([np.roll(b[r], -o[k, r]) for r in range(8)])
                                             for b, o in zip(cut, offsets)], axis=1))[0] for k in range(99)])
    sp = _powers(np.concatenate(cut, axis=1))[0]
    assert z == pytest.approx((sp - null.mean()) / null.std(), rel=1e-9)
    assert p == pytest.approx((1 + np.sum(null >= sp)) / 100) and z > 10 and p == 0.01
    noise = [rng.poisson(0.3, (10, 400)).astype(float) for _ in range(2)]
    z0, p0 = signal_power_significance(noise, n_shuffles=99)
    assert abs(z0) < 4 and p0 > 0.01
    assert np.isnan(signal_power_significance([np.ones((1, 50))])[0])  # one repeat: SP undefined


# ------------------------------------------------------------- STRF report pages

def _fits(tmp_path, cells, F=6, L=5, dt=5.0):
    f = h5py.File(tmp_path / "fits.h5", "w")
    f.create_dataset("cell_id", data=np.array(cells, dtype=object), dtype=h5py.string_dtype())
    rng = np.random.default_rng(0)
    f["linear/weights"] = rng.normal(size=(len(cells), F, L)).astype(np.float32)
    f["linear/intercepts"] = np.full(len(cells), 0.1)
    f["standardisation/mean"], f["standardisation/std"] = np.zeros(F), np.ones(F)
    f["freqs_hz"] = np.array([300.0, 520.0, 900.0, 1500.0, 2600.0, 4400.0])
    f.create_dataset("split/stim_id", data=np.array(["md5a", "md5b"], dtype=object), dtype=h5py.string_dtype())
    f.create_dataset("split/role", data=np.array(["train", "test"], dtype=object), dtype=h5py.string_dtype())
    f["penalty_grid"] = np.logspace(-2.0, 2.0, 5)
    f.attrs.update(dt_ms=dt, n_lags=L, settings="{}")
    f.close()
    return read_fits(tmp_path / "fits.h5")


def _dataset(cells, dt=5.0, T=40, F=6):
    rng = np.random.default_rng(1)
    resp = {c: torch.from_numpy(rng.poisson(0.4, (3, T)).astype(np.float32)) for c in cells}
    return SimpleNamespace(
        dt=dt, t0_s=0.0, bin_centres_s=lambda n: (np.arange(n) + 0.5) * dt / 1000.0,
        stim_meta=[dict(stim_id="md5a", name="stim3", type="call", **{"class": "Te"}),
                   dict(stim_id="md5b", name="stim7", type="song", **{"class": "song"})],
        nrn_meta=[dict(cell_id=c) for c in cells],
        nrn_masks=torch.ones((2, len(cells)), dtype=torch.bool),
        stims=[torch.from_numpy(rng.random((1, F, T))) for _ in range(2)],
        responses=[[resp[c] for c in cells]] * 2,
    )


def test_strf_pages_label_examples_with_colour_bars_and_rate_units(tmp_path):
    cells = ["bird/x", "bird/y"]
    rows = [_row("bird/x", 0.9, True), _row("bird/y", 0.6, True)]
    picks = [("best", "bird/x"), ("median", "bird/y")]
    f = _fits(tmp_path, cells)
    fig = strf_report.page_strfs(f, picks, cells, rows)
    panels = [ax for ax in fig.axes if ax.get_xlabel() == "lag (ms)"]
    assert [ax.get_title().split("\n")[0] for ax in panels] == ["best neuron: bird/x", "median neuron: bird/y"]
    assert "CCnorm 0.90" in panels[0].get_title() and "CCnorm 0.60" in panels[1].get_title()
    bars = [ax for ax in fig.axes if ax not in panels]
    assert len(bars) == 2 and all("spikes/s" in ax.get_ylabel() for ax in bars)
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["300", "520", "900", "1500", "2600", "4400"]
    assert "reliable noise ceiling" in fig._suptitle.get_text()
    plt.close(fig)
    ds = _dataset(cells)
    fig = strf_report.page_predictions(f, ds, picks, cells, rows)
    used = [ax for ax in fig.axes if ax.lines]
    assert len(used) == 2  # one test stimulus (md5b) per neuron
    for ax, cell in zip(used, cells):
        assert ax.get_ylabel() == "rate (spikes/s)"
        measured = ax.lines[0].get_ydata()
        np.testing.assert_allclose(measured, ds.responses[1][cells.index(cell)].numpy().mean(axis=0) * 200.0, rtol=1e-6)
        assert "stim7 (song)" in ax.get_title() and "md5b" not in ax.get_title()
    titles = [sub._suptitle.get_text().split("  |  ")[0] for sub in fig.subfigs]
    assert titles == ["best neuron: bird/x", "median neuron: bird/y"]
    assert used[0].get_title().startswith("best neuron on") and used[1].get_title().startswith("median neuron on")
    plt.close(fig)


# ------------------------------------------------------------- QC pages

def _ns1_like(n_skips=30):
    """Stand-in NS1 dataset: two recordings, three probes' worth of units, long skip reasons."""
    meta = [
        dict(cell_id="expA_1x32/P01/cluster.03.data", animal_id="expA_1x32", single_t="Yes", depth_um=900.0, electrode_number=3),
        dict(cell_id="expA_1x32/P01/cluster.01.data", animal_id="expA_1x32", single_t="Maybe", depth_um=600.0, electrode_number=30),
        dict(cell_id="expB_4x8/P02/cluster.07.data", animal_id="expB_4x8", single_t="Yes", depth_um=300.0, electrode_number=7),
        dict(cell_id="expA_1x32/P02/cluster.02.data", animal_id="expA_1x32", single_t="No", depth_um=600.0, electrode_number=2),
        dict(cell_id="expB_4x8/P02/cluster.01.data", animal_id="expB_4x8", single_t="Yes", depth_um=1200.0, electrode_number=1),
    ]
    skipped = [dict(what="unit", reason=f"neuron filter: depth_um={-100.0 * k} < 0 and an extra long explanation "
                    f"of why this unit number {k} was left out of every table of the dataset") for k in range(n_skips)]
    return SimpleNamespace(
        path="/a/very/long/path/" + "nested/" * 20 + "results/ns1real", dt=5.0, F=3, spectrogram_params={"kind": "cochleagram"}, freqs_hz=np.array([300.0, 1000.0, 3000.0]),
        nrn_meta=meta, N_neurons=len(meta), nrn_masks=torch.ones((4, len(meta)), dtype=torch.bool),
        stim_meta=[dict(stim_id=f"nat0{k}", name=f"nat0{k}", type="unknown") for k in range(1, 5)], stims=[None] * 4,
        skipped=skipped, quality=None,
        coverage=pa.table({"mean_rate_hz": np.linspace(1.0, 30.0, 20)}),
    )


def test_qc_summary_text_stays_on_the_page_and_off_the_plots():
    fig = qc.page_summary(_ns1_like())
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    texts = [t for t in fig.texts if t.get_text()]
    assert len(texts) == 2
    boxes = [t.get_window_extent(renderer) for t in texts]
    for box in boxes:
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, box
    assert not boxes[0].overlaps(boxes[1])
    for ax in fig.axes:
        for box in boxes:
            assert not box.overlaps(ax.get_tightbbox(renderer)), ax.get_title()
    plt.close(fig)


def test_qc_names_ns1_sort_type_and_recordings():
    left, _ = qc.summary_text(_ns1_like(n_skips=0))
    text = " ".join(" ".join(left).split())  # undo the wrapping
    assert "recordings: 2" in text
    assert "by single unit (single_t): Maybe: 1, No: 1, Yes: 3" in text
    assert "None" not in text and "animals" not in text
    fig = qc.page_summary(_ns1_like(n_skips=0))
    titles = [ax.get_title() for ax in fig.axes]
    assert "coverage per recording" in titles and "neurons per recording by single unit (single_t)" in titles
    units = next(ax for ax in fig.axes if ax.get_title().startswith("neurons per"))
    assert sorted(t.get_text() for t in units.get_legend().get_texts()) == ["Maybe", "No", "Yes"]
    plt.close(fig)


def test_electrode_order_sorts_ns1_within_probe_then_depth():
    ds = _ns1_like(n_skips=0)
    # expA_1x32 (first seen) before expB_4x8; within a probe by depth, then electrode:
    # expA: #1 600/30, #3 600/2, #0 900/3 -> 3, 1, 0 ; expB: #2 300/7, #4 1200/1 -> 2, 4
    assert qc.electrode_order(ds) == [3, 1, 0, 2, 4]
    aa4 = SimpleNamespace(N_neurons=4, nrn_meta=[
        dict(cell_id="B/x", animal_id="B", electrode=3, subsort_id=None),
        dict(cell_id="A/y", animal_id="A", electrode=20, subsort_id=2),
        dict(cell_id="A/z", animal_id="A", electrode=20, subsort_id=1),
        dict(cell_id="B/w", animal_id="B", electrode=1, subsort_id=1)])
    assert qc.electrode_order(aa4) == [3, 0, 2, 1]  # bird B first (first seen), then electrode, subsort


def test_spectrograms_in_db_with_hz_axis_and_colour_bar():
    rng = np.random.default_rng(0)
    power = rng.exponential(1e-4, size=(3, 200))  # a quiet natural sound (~ -40 dB) ...
    power[:, 50] = 1.0  # ... with one loud click: linear display would be black but for one column
    spec = np.cbrt(power)  # cubic compression, as stored
    np.testing.assert_allclose(spectrogram_db(spec, "cubic"), 10 * np.log10(power / power.max()), atol=1e-9)
    np.testing.assert_allclose(spectrogram_db(10 * np.log10(power), "log"), 10 * np.log10(power / power.max()), atol=1e-9)
    fig, ax = plt.subplots()
    im = show_spectrogram(ax, spec, [300.0, 1000.0, 3000.0], "cubic", (0.0, 1.0))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["300", "1000", "3000"] and "Hz" in ax.get_ylabel()
    assert im.colorbar is not None and im.colorbar.ax.get_ylabel() == "dB re peak"
    shown = np.asarray(im.norm(im.get_array()))  # colour-scale position in [0, 1] of each pixel
    assert np.median(shown) > 0.25  # the quiet sound is visible: ~ -42 dB re the click, in the 60 dB range ...
    assert np.median(spec / spec.max()) < 0.05  # ... where the stored (cubic) values shown linearly are ~black
    plt.close(fig)


def test_count_axes_have_whole_number_ticks():
    fig = qc.page_summary(_ns1_like(n_skips=0))
    fig.canvas.draw()
    counts = [ax for ax in fig.axes if ax.get_ylabel() in ("neurons", "(stimulus, neuron) pairs")]
    assert len(counts) == 2
    for ax in counts:
        ticks = ax.get_yticks()
        assert np.all(ticks == np.round(ticks)), ticks
    plt.close(fig)


# ------------------------------------------------------------- tables and stimulus names

def test_wav_n_samples_stays_integer_for_pandas(tmp_path):
    rows = [dict(stim_id="nat01", animal_id="NS1", stim_number=1, name="nat01", type="t", **{"class": "natural"},
                 duration_s=1.0, wav="w1", wav_sample_rate=48828.125, wav_n_samples=48828),
            dict(stim_id="drc01", animal_id="NS1", stim_number=2, name="drc01", type="drc", **{"class": "drc"},
                 duration_s=None, wav=None, wav_sample_rate=None, wav_n_samples=None)]
    table = build_stim_table([pa.Table.from_pylist(rows, schema=STIMS_SCHEMA)], 5.0)
    pq.write_table(table, tmp_path / "stims.parquet")
    back = pq.read_table(tmp_path / "stims.parquet")
    assert back.schema.field("wav_n_samples").type == pa.int64()
    assert back.column("wav_n_samples").to_pylist() == [48828, None]
    df = back.to_pandas()
    assert str(df["wav_n_samples"].dtype) == "Int64" and df["wav_n_samples"][0] == 48828
    assert df["wav_n_samples"].isna().tolist() == [False, True]
    assert df["n_bins"].tolist() == [199, 0]  # floor(48828 / 48828.125 s / 5 ms); 0 without a waveform


# ------------------------------------------------------------- snakemake --report

def test_report_shows_the_configuration_as_yaml():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["datasets"]["x"] = {"format": "ns1", "neuron_filter": {"single_t": {"in": ["Yes", "Maybe"]}}, "note": "a: b # c"}
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)  # Snakemake's report environment
    text = env.from_string((REPO / "workflow/report/workflow.rst").read_text()).render(
        snakemake=SimpleNamespace(config=config))
    from docutils.core import publish_parts

    html = publish_parts(text, writer="html")["html_body"]
    assert html.count('<pre class="literal-block">') == 1
    block = text.split("::\n", 1)[1]
    assert yaml.safe_load(textwrap.dedent(block)) == config
    assert "\n    processing:\n      dt_ms: " in block and "{'" not in block
