"""`sparrow-tfx report`: the offline HTML review of a run, its pieces, and the notebook for Jupyter users."""
from __future__ import annotations

import ast
import html.parser
import os
import re
import xml.etree.ElementTree as ET

import nbformat
import pytest
from tensorflow_model_analysis.proto import config_pb2, validation_result_pb2

from models import features
from pipeline import configs
from pipeline.report import metadata, page, review, summary, svg
from recommender import serving_dir
from tests.conftest import E2E_MIN_AUC, REPO_ROOT, run_cli
from tests.helpers.console import assert_quiet
from tests.helpers.tfma_metrics import tfma_overall_and_slices

NOTEBOOK = os.path.join(REPO_ROOT, "notebooks", "review.ipynb")


# --- pieces -------------------------------------------------------------------------------------------------

def test_bucket_slices_are_labelled_with_the_range_they_cover():
    bucket = next(b for b in features.SLICE_BUCKETS if b.name == "userActivity")
    low, high = bucket.boundaries[0], bucket.boundaries[1]
    assert page.slice_value_label("userActivity", 0) == f"< {low:g} or missing {bucket.source}"
    assert page.slice_value_label("userActivity", 1) == f"{low:g} to < {high:g}"
    assert page.slice_value_label("userActivity", len(bucket.boundaries)) == f">= {bucket.boundaries[-1]:g}"
    assert page.slice_value_label("movieGenre1", "Drama") == "Drama"


def test_chart_is_valid_svg_with_one_line_per_series():
    drawn = svg.chart("ROC <curve>", [svg.Series("candidate", [(0, 0), (0.2, 0.6), (1, 1)], "#00f"),
                                      svg.Series("baseline", [(0, 0), (1, 1)], "#f80", markers=True)],
                      "x", "y", reference=[(0, 0), (1, 1)])
    root = ET.fromstring(drawn)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}polyline")) == 3  # two series and the reference
    assert len(root.findall(f"{ns}circle")) == 2
    assert root.find(f"{ns}title").text == "ROC <curve>"


def _failure(metric: str, value: float, threshold: config_pb2.MetricThreshold, is_diff=False):
    failure = validation_result_pb2.ValidationFailure(message="")
    failure.metric_key.name = metric
    failure.metric_key.is_diff = is_diff
    failure.metric_value.double_value.value = value
    failure.metric_threshold.CopyFrom(threshold)
    return failure


def test_gate_failures_read_as_reasons():
    below = _failure("auc", 0.61, config_pb2.MetricThreshold(
        value_threshold=config_pb2.GenericValueThreshold(lower_bound={"value": 0.7})))
    regressed = _failure("auc", -0.03, config_pb2.MetricThreshold(change_threshold=config_pb2.GenericChangeThreshold(
        direction=config_pb2.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -0.01})), is_diff=True)
    assert summary._failure_reason(below, ()) == "auc = 0.6100 is below the minimum 0.7000"
    assert summary._failure_reason(regressed, (("movieGenre1", "Drama"),)) == (
        "auc changed by -0.0300 against the baseline on slice {'movieGenre1': 'Drama'}; the gate allows -0.0100")


def _review(blessed, gate=None, slices=None, catalogue=None, catalogue_gate=None):
    record = metadata.RunRecord("run-1", 0, {})
    run = summary.RunSummary("run-1", {}, {}, blessed, {}, None, False, gate, catalogue_gate=catalogue_gate)
    return review.Review(record, run, slices or {}, {}, {}, [], [], [], catalogue or {})


def test_page_shows_the_catalogue_per_user_group_and_the_failed_catalogue_gate():
    def groups(recall):
        return {"all": {"users": 9, "recall@10": recall, "coverage": 40},
                "with_history": {"users": 4, "recall@10": 0.5},
                "cold_start": {"users": 5, "recall@10": 0.2}, "userActivity<10": {"users": 3, "recall@10": 0.1}}

    text = page.render(_review(
        blessed=False, catalogue={"ours": groups(0.3), "most_rated": groups(0.4)},
        catalogue_gate=(False, "recall@10 over 9 eval users: ours 0.3000 < 1.00 x most_rated 0.4000")))
    assert 'id="decision">NOT BLESSED<' in text
    assert ("Catalogue gate: recall@10 over 9 eval users: ours 0.3000 &lt; 1.00 x most_rated 0.4000: "
            "<b>failed</b>") in text
    assert 'data-slice="all" data-model="most_rated" data-metric="recall@10" data-value="0.4"' in text
    assert "cold-start users (no training ratings)" in text and "users with &lt;10 training ratings" in text
    assert "Distinct movies in all top lists: ours 40, most_rated 40." in text


def test_page_of_a_run_without_evaluation_says_no_decision():
    text = page.render(_review(blessed=None))
    assert 'id="decision">NO DECISION<' in text and "Metrics per slice" not in text


def test_page_of_a_failed_gate_gives_its_reasons_and_the_comparison():
    gate = summary.GateReport(0.7, 0.01, "1795973495", {"auc": (0.65, 0.72)},
                              ["auc = 0.6500 is below the minimum 0.7000"])
    overall = summary.SliceMetrics({"auc": 0.65, "example_count": 100.0}, {"auc": 0.72}, {"auc": -0.07})
    text = page.render(_review(blessed=False, gate=gate, slices={summary.OVERALL: overall}))
    assert 'id="decision">NOT BLESSED<' in text
    assert "<li>auc = 0.6500 is below the minimum 0.7000</li>" in text
    assert "Baseline: serving version 1795973495." in text
    assert 'data-model="diff" data-metric="auc" data-value="-0.07' in text and ">-0.0700<" in text


# --- the notebook -------------------------------------------------------------------------------------------

def test_notebook_is_valid_and_calls_existing_tfma_and_tfdv_functions():
    import tensorflow_data_validation as tfdv
    import tensorflow_model_analysis as tfma

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    ast.parse(code)
    used = set(re.findall(r"\b(tfma(?:\.view)?|tfdv)\.(\w+)\(", code))
    assert ("tfma.view", "render_slicing_metrics") in used and ("tfma.view", "render_plot") in used
    modules = {"tfma": tfma, "tfma.view": tfma.view, "tfdv": tfdv}
    missing = [f"{module}.{name}" for module, name in used if not hasattr(modules[module], name)]
    assert missing == []


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@pytest.mark.e2e
@pytest.mark.slow
def test_notebook_runs_top_to_bottom_on_a_first_run(e2e_run, monkeypatch):
    """Against the shared first run: its one model unnamed in TFMA's output, no baseline."""
    run_lines = _execute_notebook(e2e_run, monkeypatch)
    assert "none serving yet" in run_lines


@pytest.mark.e2e
@pytest.mark.slow
def test_notebook_runs_top_to_bottom_on_a_run_with_a_serving_baseline(e2e_rerun, monkeypatch):
    """Against the re-run: TFMA's output has the candidate and the baseline, both named."""
    [served] = serving_dir.versions(e2e_rerun.paths.serving_dir)
    run_lines = _execute_notebook(e2e_rerun, monkeypatch)
    assert f"serving version {served}" in run_lines


def _execute_notebook(run, monkeypatch) -> str:
    """Runs the notebook in a real python3 kernel on the run, checks every widget cell; returns run.lines()'s text."""
    import nbclient

    monkeypatch.setenv("SPARROW_TFX_METADATA", run.paths.metadata_path)
    monkeypatch.setenv("SPARROW_TFX_RUN", run.run_id)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": REPO_ROOT}}).execute()  # raises on a cell's error

    outputs = {cell.source: [o for o in cell.outputs if o.output_type in ("display_data", "execute_result")]
               for cell in notebook.cells if cell.cell_type == "code"}
    widgets = notebook.metadata.widgets[WIDGET_STATE]["state"]

    def widget_state(call: str) -> dict:
        [shown] = next(out for source, out in outputs.items() if call in source)
        return widgets[shown.data[WIDGET_VIEW]["model_id"]]["state"]

    slices = [s["slice"] for s in widget_state("render_slicing_metrics")["data"]]
    assert len(slices) > 1 and all(s.startswith("movieGenre1:") for s in slices), slices
    assert widget_state("render_plot")["data"]
    streams = [o.text for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs
               if o.output_type == "stream"]
    assert_quiet(*streams)  # no TensorFlow, absl or Google client lines in the user's notebook
    run_lines = "".join(o.text for o in next(c.outputs for c in notebook.cells if "run.lines()" in c.source)
                        if o.output_type == "stream")
    assert f"run {run.run_id}" in run_lines
    for call in ("load_validation_result", "visualize_statistics", "display_anomalies"):
        assert next(out for source, out in outputs.items() if call in source), call
    [catalogue_table] = next(out for source, out in outputs.items() if "load_catalogue" in source)
    for shown in ("ours", "most_rated", "recent_most_rated", "with_history", "recall@10"):
        assert shown in catalogue_table.data["text/html"], shown
    return run_lines


# --- the command on a real run ------------------------------------------------------------------------------

class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.external, self.hrefs = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe") and attrs.get("src") or tag == "link":
            self.external.append((tag, attrs))
        if tag == "a":
            self.hrefs.append(attrs["href"])


@pytest.fixture(scope="module")
def report(e2e_run, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("report") / "nested" / "review.html")
    result = run_cli("report", "--metadata", e2e_run.paths.metadata_path, "--run", e2e_run.run_id, "--output", path)
    with open(path, encoding="utf-8") as f:
        return result.stdout, f.read()


@pytest.mark.e2e
def test_report_command_says_what_it_wrote(report):
    stdout, text = report
    assert re.search(r"wrote .*review\.html \(run \S+, \d+ KiB\) in [\d.]+ s", stdout)
    for done, step in enumerate(("read the run", "render", "write"), start=1):  # not a terminal: plain lines
        assert re.search(rf"^\[0:\d\d\] {step} done in \d+\.\d s \({done}/3 steps done\)$", stdout, re.M), stdout


@pytest.mark.e2e
def test_report_is_self_contained(report):
    _, text = report
    links = _Links()
    links.feed(text)
    assert links.external == []
    assert re.findall(r"https?://(?!www\.w3\.org/2000/svg)", text) == []
    artifact_links = [h for h in links.hrefs if h.startswith("file://")]
    assert artifact_links and all(os.path.exists(h[len("file://"):]) for h in artifact_links)


@pytest.mark.e2e
def test_tfma_output_has_every_slice_of_the_feature_spec(e2e_run, report):
    """Bucket slices come from Transform's extra outputs (preprocessing_function_names): they must really slice."""
    _, slices = tfma_overall_and_slices(e2e_run.record())
    _, text = report
    for column in features.SLICE_FEATURE_KEYS + tuple(b.name for b in features.SLICE_BUCKETS):
        values = [s for s in slices if s.startswith(f"{column}=")]
        assert len(values) >= 2, f"TFMA produced {len(values)} slices for {column}"
        assert f'data-slice="{values[0]}"' in text


@pytest.mark.e2e
def test_report_states_the_gate_the_baseline_and_ranking_metrics(e2e_run, report):
    _, text = report
    overall, _ = tfma_overall_and_slices(e2e_run.record())
    assert f"ROC AUC at least <b>{E2E_MIN_AUC:.4f}</b>" in text
    assert "Baseline: " in text
    assert 'id="decision">BLESSED<' in text
    for metric in ("ndcg@10", "recall@10"):
        value = overall["candidate"][metric]
        assert 0.0 < value <= 1.0
        assert f'data-slice="overall" data-model="candidate" data-metric="{metric}"' in text


@pytest.mark.e2e
def test_report_shows_the_catalogue_evaluators_figures(e2e_run, report):
    """Read straight from the run's CatalogueEvaluator artifact, not through the report's reader."""
    import json

    stdout, text = report
    run_id = re.search(r"\(run (\S+),", stdout).group(1)
    [record] = [r for r in metadata.runs(e2e_run.paths.metadata_path, configs.PIPELINE_NAME) if r.run_id == run_id]
    uri = record.node("CatalogueEvaluator").output("catalogue_evaluation").uri
    with open(os.path.join(uri, "catalogue_metrics.json")) as f:
        figures = json.load(f)
    assert set(figures) == {"ours", "most_rated", "recent_most_rated", "popular_now"}
    for ranker, groups in figures.items():
        for group in ("all", "with_history", "cold_start"):
            value = groups[group]["recall@10"]
            assert f'data-slice="{group}" data-model="{ranker}" data-metric="recall@10" data-value="{value!r}"' in text
    assert 'id="catalogue-gate"' in text


@pytest.mark.e2e
def test_report_of_an_unknown_run_names_the_recorded_ones(e2e_run):
    result = run_cli("report", "--metadata", e2e_run.paths.metadata_path, "--run", "no-such-run", check=False)
    assert result.returncode != 0
    first = metadata.runs(e2e_run.paths.metadata_path, configs.PIPELINE_NAME)[0].run_id
    assert "no run 'no-such-run'" in result.stderr and first in result.stderr
