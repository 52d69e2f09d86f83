"""seqsim.report.write_report: PNG charts and one self-contained report.html."""

from __future__ import annotations

import base64
import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

import seqsim
from seqsim import Result, SeqsimError
from seqsim.report import COMPARISON_CHARTS, RUN_CHARTS, write_report
from tests.small_runs import backlog_run


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.headings: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "img":
            self.images.append(attr["src"] or "")
        if tag in ("link", "script"):
            self.links.append(tag)
        self._in_heading = tag in ("h1", "h2")

    def handle_data(self, data: str) -> None:
        if self._in_heading:
            self.headings.append(data)
            self._in_heading = False


def parse(path: Path) -> _Collect:
    parser = _Collect()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def run() -> Result:
    return backlog_run()


def test_run_report_embeds_every_chart_and_the_summary(run: Result, tmp_path: Path) -> None:
    report = write_report(run, tmp_path / "rep")
    assert report == tmp_path / "rep" / "report.html"
    page = parse(report)
    assert len(page.images) == len(RUN_CHARTS)
    assert not page.links  # no external stylesheet or script: one file
    for (stem, heading, _caption, _draw), src in zip(RUN_CHARTS, page.images, strict=True):
        png = tmp_path / "rep" / f"{stem}.png"
        assert src == "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
        with Image.open(png) as image:
            assert image.size[0] == 1100 and 300 < image.size[1] < 1500
        assert heading in page.headings
    text = report.read_text()
    assert "Summary" in page.headings and "Scenario" in page.headings
    assert "lateness p95" in text and "peak sends per hour" in text
    assert 'name = "COLD"' in text.replace("&quot;", '"')  # the scenario TOML
    assert "src=\"http" not in text and "Invariant broken" not in text
    # the steps table, and the run's unfinished work named (it ends with rows due)
    assert "Steps" in page.headings and "COLD day 4" in text and "waiting at end" in text
    unsent = run.summary["unsent_due_at_end"]
    assert f"The run ended with work left: {unsent:,} rows due but unsent" in text


def test_report_into_a_saved_result_directory_keeps_it_loadable(run: Result,
                                                                tmp_path: Path) -> None:
    folder = run.save(tmp_path / "saved")
    write_report(run, folder, title="Two devices", dpi=60)
    again = seqsim.load_result(folder)
    assert again.summary == run.summary
    assert "<h1>Two devices</h1>" in (folder / "report.html").read_text()
    with Image.open(folder / "backlog.png") as image:
        assert image.size[0] == 600


def test_comparison_report(run: Result, tmp_path: Path) -> None:
    runs = {"2 devices": run, "4 devices": backlog_run(4)}
    report = write_report(runs, tmp_path / "cmp")
    page = parse(report)
    assert len(page.images) == len(COMPARISON_CHARTS)
    assert "What differs between the scenarios" in page.headings
    text = report.read_text()
    assert "capacity.devices" in text and "(+" in text
    csv = pd.read_csv(tmp_path / "cmp" / "compare.csv", index_col="result")
    assert list(csv.index) == list(runs)
    for stem, *_ in COMPARISON_CHARTS:
        assert (tmp_path / "cmp" / f"{stem}.png").stat().st_size > 10_000


def test_broken_invariants_are_shown(run: Result, tmp_path: Path) -> None:
    broken = Result(run.scenario, run.sends, run.timeline, run.contacts, run.summary,
                    run.tables, {**run.info, "invariant_violations": ["2 active rows <x>"]})
    text = write_report(broken, tmp_path).read_text()
    assert re.search(r'class="problem">Invariant broken: 2 active rows &lt;x&gt;', text)


@pytest.mark.parametrize(
    ("results", "kwargs", "message"),
    [
        ("run", {}, "results: str is not valid; expected a seqsim.Result or a dict"),
        ({}, {}, "results: an empty dict is not valid"),
        ({"a": 1}, {}, "results['a']: int is not valid"),
        (None, {"dpi": 5}, "dpi: 5 is not valid"),
    ],
)
def test_bad_input(results: object, kwargs: dict, message: str, run: Result,
                   tmp_path: Path) -> None:
    with pytest.raises(SeqsimError) as info:
        write_report(run if results is None else results, tmp_path, **kwargs)
    assert message in str(info.value)


def test_folder_that_is_a_file(run: Result, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(SeqsimError, match=r"folder: .* is not valid; it is a file"):
        write_report(run, target)


def test_the_scenario_shown_is_the_scenario_run(run: Result, tmp_path: Path) -> None:
    text = write_report(run, tmp_path).read_text()
    (shown,) = re.findall(r"<pre>(.*?)</pre>", text, flags=re.DOTALL)
    assert "days = [1, 2, 3, 4]" in html.unescape(shown)  # arrays kept on one line
    assert seqsim.Scenario.from_toml_string(html.unescape(shown)) == run.scenario
