"""The report's files for a paper (issue 19) and its handling of what it did not write or cannot trust (issue 18).

Synthetic cells written through the store's own API (no training): fast. Figures are PNG at
300 dpi with PDF and SVG beside them, every plotted rate has an error bar, each estimator has
one colour-blind-safe style in every figure; every table is exported as CSV (the numbers the
Markdown shows) and booktabs LaTeX (escaped). Regressions of issue 18: the report deletes only
files it wrote, and names with mathtext or HTML in them neither break it nor leak markup.
"""

from __future__ import annotations

import csv
import io
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402

from spikeattack.results.report import figure, write_report  # noqa: E402
from spikeattack.results.report.document import md_escape  # noqa: E402
from spikeattack.results.report.manifest import MANIFEST_NAME  # noqa: E402
from spikeattack.results.report.tables import latex_escape  # noqa: E402
from spikeattack.results.store import ResultsStore  # noqa: E402

N = 40
LABELS = [i % 10 for i in range(N)]
EVIL = "<script>alert(1)</script> $\\frac$ 50%_&#{x}~^[a](b)"
OKABE_ITO = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}


def cell(target, grad, fooled, *, eps=0.1, scenario="white-box", source=None, attack="pgd"):
    clean = list(LABELS)
    adv = [(y + 1) % 10 if i in fooled else y for i, y in enumerate(LABELS)]
    n_fooled = sum(a != y for a, y in zip(adv, LABELS))
    source = source or {"white-box": target, "black-box": f"{target}#seed1"}.get(scenario, scenario.split(":")[-1])
    return {"id": f"{target}-{scenario}-{attack}-{grad}-{eps}", "experiment": "e", "target": target, "source": source,
            "scenario": scenario, "attack": attack, "grad": grad, "eps": eps,
            "config": {"grad_params": {}, "attack_config": {"eot": 1, "norm": "linf"}},
            "metrics": {"n": N, "clean_accuracy": 1.0, "asr": n_fooled / N, "robust_accuracy": 1 - n_fooled / N,
                        "linf": eps, "l2": 0.5, "vanishing": 0},
            "per_input": {"label": LABELS, "clean_pred": clean, "adv_pred": adv, "target": None,
                          "vanishing": [False] * N}, "seconds": 0.0}


def model(name, decay=0.5, neuron="lif", arch="small_cnn"):
    return {"key": f"k-{name}", "experiment": "e", "name": name, "path": "-", "clean_accuracy": 1.0, "info": {},
            "config": {"arch": arch, "neuron": neuron, "decay": decay, "timesteps": 4, "encoding": "direct"}}


def grid(target, strength=1.0, small=False):
    """White-box and black-box pgd/fgsm x stbp/rga/hart x 3 eps on ``target``, and a cross cell
    (``small``: pgd at 2 eps only)."""
    cells = []
    for attack in ("pgd",) if small else ("fgsm", "pgd"):
        for eps, base in ((0.1, 12), (0.3, 30)) if small else ((0.05, 4), (0.1, 12), (0.3, 30)):
            for k, grad in enumerate(("stbp", "rga", "hart")):
                count = min(N, int(strength * base) + 2 * k)
                cells.append(cell(target, grad, range(count), eps=eps, attack=attack))
                cells.append(cell(target, grad, range(count // 2), eps=eps, attack=attack, scenario="black-box"))
            cells.append(cell(target, "exact", range(base // 3), eps=eps, attack=attack, scenario="cross:ann"))
    return cells


def make_store(path: Path, names=("snn@decay=0.5", "snn@decay=1.0"), small=False) -> Path:
    store = ResultsStore(path / "results.sqlite")
    for i, name in enumerate(names):
        for c in grid(name, 1.0 + 0.3 * i, small):
            assert store.put(c["id"], c)
        store.put_model(**model(name, decay=0.5 + 0.5 * i if name.startswith("snn@") else 0.5,
                                arch="small_cnn" if name.startswith("snn@") else "vgg"))
        store.put_analysis(f"shuffle-{name}", "e", "spike_shuffle", name,
                           {"accuracy": 0.9, "shuffled_accuracy": 0.85, "change": -0.05})
    store.put_model(**model("ann", neuron="relu"))
    store.close()
    return path / "results.sqlite"


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    """The full synthetic report, and every figure captured as it is saved."""
    folder = tmp_path_factory.mktemp("report")
    saved = []
    original = figure.Plotter.save

    def capture(self, fig, name):
        saved.append((name, fig))
        return original(self, fig, name)

    figure.Plotter.save = capture
    try:
        paths = write_report(make_store(folder), folder / "out")
    finally:
        figure.Plotter.save = original
    return paths, paths["markdown"].read_text(encoding="utf-8"), saved


@pytest.fixture(scope="module")
def report(captured):
    return captured[:2]


@pytest.fixture(scope="module")
def figures(captured):
    return captured[2]


@pytest.fixture
def no_figures(monkeypatch):
    """Reports without matplotlib (fast): for the tests of everything but figures."""
    monkeypatch.setattr(figure, "_matplotlib", lambda: None)
    monkeypatch.setattr(figure, "_notified", True)


# ---------------------------------------------------------------------------------------------- issue 18 regressions
def test_report_deletes_only_files_it_wrote(tmp_path):
    """Regression (issue 18): ``report`` deleted every ``plots/asr_vs_*``, ``robust_vs_*``, ``white_vs_black_*``
    PNG in the folder, its own or not. Now only files listed in its manifest, unchanged since, go."""
    store = make_store(tmp_path, small=True)
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    mine = {"plots/asr_vs_eps_mine.png": b"a user's plot named like the report's",
            "plots/robust_vs_eps_paper.png": b"another", "plots/white_vs_black_final.pdf": b"and a PDF",
            "tables/headline_v2.csv": b"a user's table"}
    for name, data in mine.items():
        (out / name).parent.mkdir(exist_ok=True)
        (out / name).write_bytes(data)
    write_report(store, out)
    first = set(ResultsManifest(out).files)
    assert first and all(not f.startswith(tuple(mine)) for f in first)
    # a second report of one model only: the figures and tables of the other are stale and go ...
    edited = next(f for f in first if f.endswith(".svg") and "1.0" in f)
    (out / edited).write_text("<svg>edited by hand</svg>")  # ... except one the user changed since
    only = tmp_path / "only"
    only.mkdir()
    with ResultsStore(store, readonly=True) as full, ResultsStore(only / "results.sqlite") as part:
        for row in full.rows(target="snn@decay=0.5"):
            part.put(row["id"], row)
        for m in full.models():
            part.put_model(m["key"], m["experiment"], m["name"], m["path"], m["config"], m["clean_accuracy"], m["info"])
    write_report(only / "results.sqlite", out)
    second = set(ResultsManifest(out).files)
    for name, data in mine.items():
        assert (out / name).read_bytes() == data, name
    assert (out / edited).read_text() == "<svg>edited by hand</svg>"
    stale = first - second - {edited}
    assert stale and not any((out / f).exists() for f in stale)
    assert all((out / f).is_file() for f in second)


def test_a_damaged_or_hostile_manifest_deletes_nothing(tmp_path, no_figures):
    out = tmp_path / "out"
    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    out.mkdir()
    (out / MANIFEST_NAME).write_text('{"schema": "spikeattack/report-manifest/v1", "files": ['
                                     '{"path": "../precious.txt", "sha256": "x"}, {"path": "/etc/hostname", '
                                     '"sha256": "y"}]}')
    write_report(make_store(tmp_path, names=("snn@decay=0.5",), small=True), out)
    assert outside.read_text() == "keep"
    (out / MANIFEST_NAME).write_text("not json")
    write_report(tmp_path / "results.sqlite", out)
    assert (out / "report.md").is_file()


def test_a_name_with_mathtext_does_not_break_later_reports(tmp_path):
    """Regression (issue 18): a model named with ``$\\frac$`` made matplotlib's mathtext parser fail, so every
    later ``report`` of that store failed."""
    store = make_store(tmp_path, names=("snn$\\frac$", "snn@decay=0.5"), small=True)
    written = [write_report(store, tmp_path / f"out{attempt}") for attempt in range(2)]
    for paths in written:
        svgs = sorted(paths["plots"].glob("*.svg"))
        assert len(svgs) >= 4 and all(p.with_suffix(".png").is_file() for p in svgs)
    # the same results give the same bytes, in every format
    first, second = (sorted(p.iterdir()) for p in (written[0]["plots"], written[1]["plots"]))
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert "snn\\$\\\\frac\\$" in paths["markdown"].read_text(encoding="utf-8")  # no math in Markdown either


def test_report_md_carries_no_markup_from_names(tmp_path, no_figures):
    """Regression (issue 18): ``report.md`` carried a name's raw ``<script>``. Names are text in Markdown,
    HTML and LaTeX alike."""
    store = make_store(tmp_path, names=(EVIL, "snn@decay=0.5"), small=True)
    paths = write_report(store, tmp_path / "out")
    md = paths["markdown"].read_text(encoding="utf-8")
    html = paths["html"].read_text(encoding="utf-8")
    assert "<script>" not in md and "<script>" not in html
    assert md_escape(EVIL) in md and "&lt;script&gt;alert(1)&lt;/script&gt; $\\frac$ 50%_&amp;#{x}~^[a](b)" in html
    assert "](b)" not in md.replace(md_escape(EVIL), "")  # the name's link syntax stays text
    tex = "".join(p.read_text(encoding="utf-8") for p in paths["tables"].glob("*.tex"))
    assert latex_escape(EVIL) in tex and EVIL not in tex


KILLED_WRITE = """
import os, signal, sys
from spikeattack.results.report import write_report
os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # killed inside the first atomic write
write_report(sys.argv[1], sys.argv[2])
"""


def test_a_killed_report_leaves_no_temporary_files_behind(tmp_path):
    """Regression (issue 18): a report killed while writing left hidden ``.<name>.<random>.tmp`` files, and
    they stayed. The next report removes the temporaries of its own files, and nothing else."""
    store = make_store(tmp_path, names=("snn@decay=0.5",), small=True)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(store), str(out)], capture_output=True,
                          timeout=300)
    assert done.returncode == -signal.SIGKILL
    left = [p for p in out.rglob("*.tmp")]
    assert left, "the kill left no temporary file: the regression is not exercised"
    (out / ".notes.tmp").write_text("a user's hidden file")
    (out / ".report.md.keep").write_text("not a temporary of the report")
    write_report(store, out)
    assert not [p for p in out.rglob("*.tmp") if p.name != ".notes.tmp"]
    assert (out / ".notes.tmp").is_file() and (out / ".report.md.keep").is_file()


# ---------------------------------------------------------------------------------------------- figures
def png_dpi(path: Path) -> float:
    """Pixels per inch from a PNG's pHYs chunk."""
    data = path.read_bytes()
    at = data.index(b"pHYs")
    per_metre, _, unit = struct.unpack(">IIB", data[at + 4:at + 13])
    assert unit == 1  # metres
    return per_metre * 0.0254


def test_every_figure_is_print_ready_in_three_formats(report):
    paths, md = report
    pngs = sorted(paths["plots"].glob("*.png"))
    assert {p.stem for p in pngs} >= {"robust_vs_eps_targets", "asr_vs_eps_snn_decay_0.5", "asr_vs_decay_snn",
                                       "white_vs_black_snn_decay_1.0"}
    for png in pngs:
        assert png_dpi(png) == pytest.approx(300, abs=1)
        assert png.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
        assert b"<svg" in png.with_suffix(".svg").read_bytes()[:2000]
    assert set(re.findall(r"\]\((plots/[^)]+\.png)\)", md)) == {f"plots/{p.name}" for p in pngs}


def test_every_plotted_rate_has_an_error_bar(figures):
    assert len(figures) >= 6
    for name, fig in figures:
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            handles, labels = ax.get_legend_handles_labels()
            assert handles, name
            for handle, label in zip(handles, labels):
                if isinstance(handle, ErrorbarContainer):
                    assert handle.has_yerr, (name, label)
                else:  # bars carry their error bars
                    assert isinstance(handle, BarContainer) and handle.errorbar is not None, (name, label)


def test_each_estimator_has_one_colour_blind_safe_style_in_every_figure(figures):
    seen: dict[str, set] = {}
    for name, fig in figures:
        if not name.startswith("asr_vs_eps"):
            continue
        for ax in fig.axes:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                line = handle.lines[0]
                seen.setdefault(label, set()).add((line.get_color(), line.get_marker(), str(line.get_linestyle())))
    for label in ("STBP", "RGA", "HART"):
        assert len(seen[label]) == 1, (label, seen[label])  # the same in every figure and panel
    styles = [next(iter(seen[label])) for label in ("STBP", "RGA", "HART")]
    for k in range(3):  # colour, marker and line style each tell the estimators apart
        assert len({s[k] for s in styles}) == 3, styles
    assert {s[0].upper() for s in styles} <= OKABE_ITO
    known = [figure.estimator_style(n) for n in figure.ESTIMATOR_STYLES]
    assert len({s["color"] for s in known}) == len({s["marker"] for s in known}) == len(known)
    assert figure.estimator_style("hart(gamma=0.5)")["color"] == figure.estimator_style("hart")["color"]
    assert figure.estimator_style("mine") == figure.estimator_style("mine")  # unknown names: fixed too


def test_the_best_single_attack_stays_visible_under_the_headline(figures):
    fig = dict(figures)["robust_vs_eps_targets"]
    *per_target, overlay = [ax for ax in fig.axes if ax.get_visible()]
    assert overlay.get_title() == "all targets"  # every target's headline in one panel, to compare them
    assert sorted(overlay.get_legend_handles_labels()[1]) == [f"snn@decay={d}: per-input worst case"
                                                              for d in ("0.5", "1.0")]
    for ax in per_target:
        handles, labels = ax.get_legend_handles_labels()
        lines = {lab: h.lines[0] for h, lab in zip(handles, labels)}
        best, head = lines["best single attack (breakdown)"], lines["per-input worst case (the headline)"]
        assert best.get_markerfacecolor() == "none" and best.get_markersize() > head.get_markersize()
        assert all(b != h for b, h in zip(best.get_xdata(), head.get_xdata()))  # offset on the eps axis


# ---------------------------------------------------------------------------------------------- tables
def markdown_tables(md: str) -> list[list[list[str]]]:
    tables, current = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            current.append([c.strip() for c in re.split(r"(?<!\\)\|", line[1:-1])])
        elif current:
            tables.append(current)
            current = []
    return tables


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text).strip("*")


def test_every_table_is_exported_as_csv_with_the_numbers_the_report_shows(report):
    paths, md = report
    tables = markdown_tables(md)
    names = sorted(p.stem for p in paths["tables"].glob("*.csv"))
    assert len(names) == len(tables) >= 9
    assert {"headline", "models", "per_attack", "estimators", "results", "white_vs_black", "cross",
            "spike_shuffle"} <= set(names)
    assert names == sorted(p.stem for p in paths["tables"].glob("*.tex"))
    by_header = {}
    for name in names:
        rows = list(csv.reader(io.StringIO((paths["tables"] / f"{name}.csv").read_text(encoding="utf-8"))))
        by_header[tuple(rows[0])] = rows
    for table in tables:
        header = [unescape(h) for h in table[0]]
        rows = [[unescape(c) for c in r] for r in table[2:]]
        expected = []  # the header and cells a CSV of this table holds
        for j, head in enumerate(header):
            column = [r[j] for r in rows if r[j] != "—"]
            parsed = [re.fullmatch(r"(-?[\d.]+) \[(-?[\d.]+), (-?[\d.]+)\](?: \((.*)\))?", c) for c in column]
            if column and all(parsed):
                parts = [head, f"{head} CI low", f"{head} CI high"]
                parts += [f"{head} detail"] if any(m.group(4) for m in parsed) else []
                expected.append((parts, j))
            else:
                expected.append(([head], j))
        csv_rows = by_header[tuple(h for parts, _ in expected for h in parts)]
        assert len(csv_rows) - 1 == len(rows)
        for shown, exported in zip(rows, csv_rows[1:]):
            k = 0
            for parts, j in expected:
                cell = shown[j]
                if len(parts) == 1:
                    assert exported[k] == ("" if cell == "—" else cell)
                elif cell == "—":
                    assert exported[k:k + len(parts)] == [""] * len(parts)
                else:  # the same numbers, as numbers
                    value, low, high = (float(x) for x in exported[k:k + 3])
                    assert f"{value} [{low}, {high}]" == re.sub(r"(\d+\.\d+|\d+)", lambda m: str(float(m.group(1))),
                                                               cell.split(" (")[0])
                k += len(parts)


def test_latex_tables_are_booktabs_and_escaped(tmp_path, no_figures):
    paths = write_report(make_store(tmp_path, names=(EVIL, "snn@decay=0.5"), small=True), tmp_path / "out")
    files = sorted(paths["tables"].glob("*.tex"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        body = [line for line in text.splitlines() if not line.startswith("%")]
        assert body[0].startswith(r"\begin{tabular}{") and body[-1] == r"\end{tabular}"
        assert [b for b in body if b in (r"\toprule", r"\midrule", r"\bottomrule")] == [
            r"\toprule", r"\midrule", r"\bottomrule"]
        columns = len(re.fullmatch(r"\\begin\{tabular\}\{([lr]+)\}", body[0]).group(1))
        source = "\n".join(body)
        plain = re.sub(r"\\[\\{}$&#%_]|\\text\w+\{\}", "", source)  # escaped characters and symbol commands
        assert plain.count("{") == plain.count("}"), path.name  # balanced braces
        for char in "%#_":
            assert char not in plain, (path.name, char)
        assert "$" not in re.sub(r"\$\\(varepsilon|lambda|gamma|beta|infty|rightarrow|times|pm|leq|geq)\$", "", plain)
        for line in body[1:-1]:
            if line.endswith(r"\\"):
                assert re.sub(r"\\&", "", line).count("&") == columns - 1, (path.name, line)
                assert not re.search(r"(^|& )\[", line)  # a cell starting with [ would be read as \\[...]
    assert latex_escape("50%_&#$ {x} ~^\\ [a]") == (r"50\%\_\&\#\$ \{x\} \textasciitilde{}\textasciicircum{}"
                                                    r"\textbackslash{} [a]")
    assert latex_escape("[x]").startswith("{}[") and latex_escape("ε = 0.1, L∞") == r"$\varepsilon$ = 0.1, L$\infty$"


class ResultsManifest:
    """The files listed in a report folder's manifest."""

    def __init__(self, folder: Path) -> None:
        import json

        self.files = [e["path"] for e in json.loads((folder / MANIFEST_NAME).read_text())["files"]]
