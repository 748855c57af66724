"""The QC report (src/strflow/reports/qc.py) page by page on the hand-built dataset folder of
tests/helpers/results.py (2 birds, 4 neurons, 3 stimuli, 7 heard pairs): each figure
function runs and shows what the hand-built tables say, every page is byte-identical
across two independent builds, and the PDF has the five documented pages."""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import strflow  # noqa: E402
from strflow.reports import qc  # noqa: E402

from tests.helpers.results import BIRDS, CELLS, HEARD, build_tiny_results  # noqa: E402

PAGES = ["1_summary", "2_cell", "3_population", "4_population_by_electrode", "5_coverage"]  # outputs.md


@pytest.fixture
def ds(tiny_results):
    return strflow.open_dataset(tiny_results.folder)


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text)]


def test_choices_made_from_the_tables(ds, tiny_results):
    # stimuli heard by 3, 2, 2 neurons; neurons hear 2, 2, 2, 1 stimuli: ties go to the lowest index
    assert qc.best_stim(ds) == 0 and qc.best_cell(ds) == 0
    assert qc.dataset_kind(ds) == "aa4" and qc.group_noun(ds, plural=True) == "birds"
    # bird A's electrodes (20, 3) then bird B's (7, 9)
    assert qc.electrode_order(ds) == [1, 0, 2, 3]
    psth = qc.population_psth(ds, 0)
    for n in range(4):
        if (0, n) in HEARD:  # the smoothed responses of the folder are counts x 0.5
            np.testing.assert_allclose(psth[n], 0.5 * tiny_results.counts[(0, n)].mean(axis=0), rtol=1e-6)
        else:
            assert np.isnan(psth[n]).all()


def test_summary_page(ds):
    left, right = qc.summary_text(ds)
    assert "birds: 2   neurons: 4 (by sort type: multi: 1, single: 3)" in left
    assert "stimuli: 3 (call: 1, mlnoise: 1, song: 1)" in left
    assert "heard (stimulus, neuron) pairs: 7 of 12 (58.3%)" in left
    assert right == ["skip records: 1 (see tables/skipped.parquet)", "    1 x unit: sort type noise"]
    fig = qc.page_summary(ds)
    bars = [p.get_height() for p in fig.axes[0].patches]  # coverage per bird: heard / (its stimuli x its neurons)
    assert bars == pytest.approx([4 / 4, 3 / 4])  # A: s0, s1 x 2 neurons all heard; B: s0, s2 x 2 neurons, 3 heard
    plt.close(fig)


def test_cell_page(ds):
    fig = qc.page_cell(ds, 0)
    assert f"cell 0: {list(CELLS)[0]} (hears 2/3 stimuli)" in texts(fig)
    assert len(fig.axes) == 3 * 2 + 1  # spectrogram, raster, PSTH for each of its 2 stimuli + a colour bar
    raster = fig.axes[2]  # row 2 (rasters), column 1 (stimulus 0) in a 3 x 2 grid, row-major
    assert raster.get_ylim() == (0, 3)  # the 3 trials of (s0, cell 0)
    plt.close(fig)


def test_population_pages(ds):
    psth = qc.population_psth(ds, 0)
    fig = qc.page_population(ds, 0, psth)
    assert "grey rows: 1 cell(s) that did not hear this stimulus" in texts(fig)
    image = fig.axes[1].get_images()[0].get_array()
    assert image.mask.all(axis=1).tolist() == [False, False, False, True]  # neuron 3 did not hear s0
    assert image[:3].max(axis=1).tolist() == pytest.approx([1, 1, 1])  # each row scaled to its own maximum
    plt.close(fig)
    fig = qc.page_population_by_electrode(ds, 0, psth)
    image = fig.axes[1].get_images()[0].get_array()
    assert image.mask.all(axis=1).tolist() == [False, False, False, True]  # order [1, 0, 2, 3]
    assert BIRDS[0] in texts(fig) and BIRDS[1] in texts(fig)  # the probe labels
    assert "e16/e17" in texts(fig)  # bird A has cells on both arrays (e3, e20)
    plt.close(fig)


def test_coverage_page(ds):
    fig = qc.page_coverage(ds)
    titles = [ax.get_title() for ax in fig.axes]
    assert f"{BIRDS[0]}: 2 stimuli x 2 neurons, 100% heard" in titles
    assert f"{BIRDS[1]}: 2 stimuli x 2 neurons, 75% heard" in titles
    plt.close(fig)


def test_each_page_is_deterministic(tmp_path):
    """Two folders built independently, each page drawn from each: identical PNG bytes."""
    a = strflow.open_dataset(build_tiny_results(tmp_path / "a").folder)
    b = strflow.open_dataset(build_tiny_results(tmp_path / "b").folder)
    a.path = b.path = "tiny"  # the summary prints the dataset path
    for pa_, pb in zip(qc.build_pages(a), qc.build_pages(b)):
        assert png_bytes(pa_) == png_bytes(pb)


def test_report_has_five_pages_and_identical_bytes(tmp_path, tiny_results):
    outputs = []
    for run in ("one", "two"):
        pdf = tmp_path / run / "qc.pdf"
        pngs = [tmp_path / run / "qc" / f"{p}.png" for p in PAGES]
        pdf.parent.mkdir()
        qc.write_report(tiny_results.folder, pdf, pngs)
        assert sorted(p.name for p in pdf.parent.rglob("*")) == sorted(["qc.pdf", "qc", *(f"{p}.png" for p in PAGES)])
        outputs.append([pdf.read_bytes(), *(p.read_bytes() for p in pngs)])
    assert outputs[0] == outputs[1]
    pdf = outputs[0][0]
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) == 5
    assert b"CreationDate" not in pdf
    assert all(png.startswith(b"\x89PNG") for png in outputs[0][1:])
