"""The results page: each source's number beside this build's and the measured ones.

Three inputs, none typed into prose:

- ``sources`` — the committed table ``book/measurements/sources.json``: per row a chapter,
  a quantity, the source document's number(s) and where the kit records the same number
  (a ``/``-separated path into the chapter's results). A row with two numbers and two
  paths is an *effect*: the page shows first − second and whether the kit's difference
  has the source's sign.
- this build's results, ``{chapter: results dict or None}`` (None: no results file);
- measurement files ``book/measurements/<chapter>-<profile>.json`` written by quick/full
  runs: ``{"chapter", "profile", "data", "date", "machine", "runs": [{"seed",
  "wall_seconds", "cpu_seconds", "metrics": {...}}]}``; a value is the mean over runs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from helpers.paths import load_results

MISSING = "not in this build"     # the chapter wrote no results file in this build
UNRECORDED = "not recorded"       # the results have no value at the row's path
MEASURED_PROFILES = ("quick", "full")


def lookup(record: dict | None, path: str) -> float | None:
    """The number at ``path`` ("a/b/c") in a nested dict, or at the flat key ``path``.

    Returns None when the path is absent or its value is not a number.
    """
    if record is None:
        return None
    value = record.get(path, record)
    if value is record:
        for key in path.split("/"):
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
    return float(value) if isinstance(value, (int, float)) else None


def measured(measurement: dict, path: str) -> float | None:
    """Mean over a measurement's runs of the metric at ``path``; None if a run lacks it."""
    values = [lookup(run.get("metrics"), path) for run in measurement.get("runs", [])]
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)


def read_build(chapters, profile: str = "tiny") -> dict:
    """``{chapter: results or None}`` from this build's ``results-<profile>.json`` files."""
    found = {}
    for chapter in chapters:
        try:
            found[chapter] = load_results(chapter, profile)
        except FileNotFoundError:
            found[chapter] = None
    return found


def read_measurements(folder: Path) -> dict:
    """``{(chapter, profile): measurement}`` for every ``<chapter>-<profile>.json``."""
    found = {}
    for path in sorted(Path(folder).glob("*-*.json")):
        measurement = json.loads(path.read_text())
        found[measurement["chapter"], measurement["profile"]] = measurement
    return found


def _value(row: dict, get, key: str = "kit") -> float | None:
    """The row's number in points (scaled); for an effect row, first − second.

    ``key``: which of the row's paths to read ("kit" for results files, "measured" for
    measurement files, falling back to "kit").
    """
    paths = row.get(key, row["kit"])
    paths = paths if isinstance(paths, list) else [paths]
    values = [get(path) for path in paths]
    if any(v is None for v in values):
        return None
    scaled = [v * row.get("scale", 100) for v in values]
    return scaled[0] - scaled[1] if len(scaled) == 2 else scaled[0]


def _source(row: dict) -> float:
    numbers = row["source"] if isinstance(row["source"], list) else [row["source"]]
    return float(numbers[0] - numbers[1] if len(numbers) == 2 else numbers[0])


def direction(source: float, kit: float) -> str:
    """The sign of the kit's effect vs the source's: 'same', 'opposite' or 'flat' (0)."""
    if kit == 0:
        return "flat"
    return "same" if math.copysign(1, kit) == math.copysign(1, source) else "opposite"


def _line(row: dict, documents: dict, build: dict, measurements: dict,
          build_column: str) -> dict:
    """One source row of the comparison table (see :func:`comparison_table`)."""
    chapter = row["chapter"]
    line = {"chapter": chapter, "quantity": row["quantity"],
            "document": documents[row["document"]]["label"], "source": _source(row)}
    results = build.get(chapter)
    line[build_column] = (MISSING if results is None else
                          _value(row, lambda p: lookup(results, p)))
    for profile in MEASURED_PROFILES:
        found = measurements.get((chapter, profile))
        line[profile] = None if found is None else _value(
            row, lambda p, m=found: measured(m, p), "measured")
    line["direction"] = ""
    if isinstance(row["kit"], list) and row.get("no_direction"):
        line["direction"] = "the source found no clear difference"
    elif isinstance(row["kit"], list):
        line["direction"] = "; ".join(
            f"{column}: {direction(line['source'], line[column])}"
            for column in (build_column, *MEASURED_PROFILES)
            if isinstance(line[column], float))
    if line[build_column] is None:
        line[build_column] = UNRECORDED
    return line


def comparison_table(sources: dict, build: dict, measurements: dict,
                     build_profile: str = "tiny") -> pd.DataFrame:
    """One row per source number: chapter, quantity, document, source, this build's
    number (column ``build_profile``, "tiny" in the default build), quick, full and, for
    effect rows, the direction per column ("opposite" where the kit goes the other way).
    Cells are numbers (points; effects as differences), None (not measured) or a reason
    string (:data:`MISSING`, :data:`UNRECORDED`).
    """
    column = build_profile if build_profile == "tiny" else f"{build_profile} (this build)"
    rows = [_line(row, sources["documents"], build, measurements, column)
            for row in sources["rows"]]
    return pd.DataFrame(rows, dtype=object)   # object: None stays None, not NaN


def _text(value) -> str:
    """A measurement's field as one line: a dict as "key value, ...", else str."""
    if isinstance(value, dict):
        return ", ".join(f"{key} {item}" for key, item in value.items())
    return "" if value is None else str(value)


def provenance_table(build: dict, measurements: dict) -> pd.DataFrame:
    """Where each column's numbers come from: profile, data, seeds, date, machine, time."""
    rows = []
    for chapter, results in build.items():
        rows.append({"chapter": chapter, "profile": "this build" if results is None
                     else results.get("profile", ""),
                     "data": MISSING if results is None else
                     "; ".join(sorted(set(results.get("data", {}).values()))),
                     "seeds": "" if results is None else str(results.get("seed", "")),
                     "date": "this build", "machine": "this build", "wall s": None})
    for (chapter, profile), m in sorted(measurements.items()):
        runs = m.get("runs", [])
        rows.append({"chapter": chapter, "profile": profile, "data": _text(m.get("data")),
                     "seeds": ", ".join(str(run.get("seed")) for run in runs),
                     "date": m.get("date", ""), "machine": _text(m.get("machine")),
                     "wall s": sum(run.get("wall_seconds", 0) for run in runs)})
    return pd.DataFrame(rows, dtype=object)


def format_cell(value) -> str:
    """A number as the page prints it (small effects in scientific notation), else text."""
    if value is None or value != value:   # None or NaN: not measured
        return "—"
    if isinstance(value, float):
        if 0 < abs(value) < 0.01:
            return f"{value:.2e}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    return str(value)


def styled(table: pd.DataFrame):
    """A table for display: cells formatted, rows whose direction is 'opposite' in bold."""
    def bold_opposite(row):
        weight = "font-weight: bold" if "opposite" in row.get("direction", "") else ""
        return [weight] * len(row)

    return (table.style.format(format_cell).apply(bold_opposite, axis=1)
            .hide(axis="index"))
