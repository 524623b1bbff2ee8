"""helpers.summary: the results page's comparison table, on small fixed inputs."""

import json

import pytest

from helpers import paths, summary

SOURCES = {
    "documents": {"doc": {"label": "a report", "bib": "key"}},
    "rows": [
        {"chapter": "a", "quantity": "clean (%)", "document": "doc", "source": 90.0,
         "kit": "accuracy/clean"},
        {"chapter": "a", "quantity": "trained − clean", "document": "doc",
         "source": [80.0, 90.0], "kit": ["accuracy/trained", "accuracy/clean"]},
        {"chapter": "a", "quantity": "same either way", "document": "doc",
         "source": [17, 16], "kit": ["accuracy/trained", "accuracy/clean"],
         "no_direction": True},
        {"chapter": "b", "quantity": "p% (already %)", "document": "doc", "source": 40,
         "kit": "p", "scale": 1},
    ],
}
BUILD = {"a": {"accuracy": {"clean": 0.5, "trained": 0.75}}, "b": None}


def measurement(values, profile="quick", chapter="b"):
    return {"chapter": chapter, "profile": profile, "data": "real", "date": "2026-12-01",
            "machine": "2 cores", "runs": [{"seed": s, "wall_seconds": 10.0,
                                            "metrics": {"p": v}}
                                           for s, v in enumerate(values)]}


def test_lookup_reads_nested_paths_and_flat_keys_and_misses_with_none():
    record = {"a": {"b": {"c": 3}}, "x/y": 0.5, "text": "no"}
    assert summary.lookup(record, "a/b/c") == 3.0, "expected the nested value 3"
    assert summary.lookup(record, "x/y") == 0.5, "expected the flat key's value 0.5"
    for path in ("a/b/z", "a/b", "text", "missing"):
        assert summary.lookup(record, path) is None, f"{path}: expected None"
    assert summary.lookup(None, "a") is None, "expected None for no record"


def test_measured_is_the_mean_over_runs_and_none_when_a_run_lacks_the_metric():
    assert summary.measured(measurement([20.0, 30.0]), "p") == pytest.approx(25.0)
    broken = measurement([20.0])
    broken["runs"].append({"seed": 1, "metrics": {}})
    assert summary.measured(broken, "p") is None, "expected None: one run lacks 'p'"


def test_comparison_table_sets_source_tiny_and_measured_side_by_side():
    table = summary.comparison_table(SOURCES, BUILD,
                                     {("b", "quick"): measurement([41.0, 43.0])})
    rows = table.to_dict("records")
    assert rows[0]["source"] == 90.0 and rows[0]["tiny"] == pytest.approx(50.0), (
        f"expected the fraction 0.5 scaled to 50 % beside 90, got {rows[0]}")
    assert rows[1]["source"] == -10.0 and rows[1]["tiny"] == pytest.approx(25.0), (
        f"expected the effects −10 (source) and +25 (kit), got {rows[1]}")
    assert rows[1]["direction"] == "tiny: opposite", (
        f"expected the kit's effect marked opposite, got {rows[1]['direction']!r}")
    assert "no clear difference" in rows[2]["direction"], (
        f"expected no sign comparison when the source saw none, got {rows[2]}")
    assert rows[3]["tiny"] == summary.MISSING and rows[3]["quick"] == pytest.approx(42.0), (
        f"expected 'not in this build' and the quick mean 42, got {rows[3]}")
    assert rows[0]["quick"] is None and rows[0]["full"] is None, (
        f"expected no quick/full number without a measurement file, got {rows[0]}")


def test_direction_compares_signs():
    assert summary.direction(-10.0, -2.0) == "same"
    assert summary.direction(-10.0, 3.0) == "opposite"
    assert summary.direction(5.0, 0.0) == "flat"


def test_read_build_says_none_for_a_chapter_without_results():
    paths.save_results("a", "tiny", {"accuracy": {"clean": 0.5}})
    found = summary.read_build(["a", "b"])
    assert found == {"a": {"accuracy": {"clean": 0.5}}, "b": None}, f"got {found}"
    assert summary.read_build(["a"], "quick") == {"a": None}, "expected no quick results"


def test_a_build_in_another_profile_names_its_column():
    table = summary.comparison_table(SOURCES, BUILD, {}, build_profile="quick")
    assert "quick (this build)" in table.columns and "tiny" not in table.columns, (
        f"expected the build's column named after its profile, got {list(table.columns)}")
    assert table.loc[1, "direction"] == "quick (this build): opposite", (
        f"got {table.loc[1, 'direction']!r}")


def test_measurement_files_and_provenance(tmp_path):
    (tmp_path / "b-quick.json").write_text(json.dumps(measurement([40.0, 44.0])))
    (tmp_path / "sources.json").write_text(json.dumps(SOURCES))   # not a measurement
    found = summary.read_measurements(tmp_path)
    assert list(found) == [("b", "quick")], f"expected one measurement, got {list(found)}"
    rows = summary.provenance_table(BUILD, found).to_dict("records")
    quick = [r for r in rows if r["profile"] == "quick"]
    assert quick and quick[0]["seeds"] == "0, 1" and quick[0]["wall s"] == 20.0, (
        f"expected seeds '0, 1' and 20 s of wall time, got {quick}")
    assert [r["data"] for r in rows if r["chapter"] == "b" and r["profile"] == "this build"
            ] == [summary.MISSING], f"expected 'not in this build' for b's row, got {rows}"


def test_format_cell():
    cases = {None: "—", float("nan"): "—", 92.55: "92.5", -2.0: "-2.0", 0.64: "0.64",
             -4.76e-4: "-4.76e-04", "not in this build": "not in this build",
             -0.03: "-0.03"}
    for value, expected in cases.items():
        assert summary.format_cell(value) == expected, (
            f"{value!r}: expected {expected!r}, got {summary.format_cell(value)!r}")


def test_a_measurement_file_may_name_its_metric_differently():
    sources = {"documents": SOURCES["documents"], "rows": [
        {"chapter": "b", "quantity": "accuracy", "document": "doc", "source": 80,
         "kit": "table/model/accuracy", "measured": "model/accuracy", "scale": 1}]}
    found = measurement([0.0])
    found["runs"][0]["metrics"] = {"model": {"accuracy": 84.7}}
    found["machine"] = {"cores": 2, "torch": "2.14"}
    row = summary.comparison_table(sources, {"b": {"table": {"model": {"accuracy": 83.0}}}},
                                   {("b", "quick"): found}).to_dict("records")[0]
    assert row["tiny"] == 83.0 and row["quick"] == 84.7, (
        f"expected tiny 83.0 from 'kit' and quick 84.7 from 'measured', got {row}")
    machine = summary.provenance_table({}, {("b", "quick"): found})["machine"].tolist()
    assert machine == ["cores 2, torch 2.14"], (
        f"expected the machine as one line, got {machine}")
