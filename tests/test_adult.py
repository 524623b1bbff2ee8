"""UCI Adult: the real reader on files in the UCI format, and the stand-in's planted bias."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from helpers.data import adult

# Three lines as they appear in the UCI files, with missing values ('?').
REAL_LINES = [
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, "
    "White, Male, 2174, 0, 40, United-States, <=50K",
    "52, Self-emp-inc, 287927, HS-grad, 9, Married-civ-spouse, Exec-managerial, Wife, "
    "White, Female, 15024, 0, 40, United-States, >50K",
    "18, ?, 103497, Some-college, 10, Never-married, ?, Own-child, Black, Female, 0, 0, "
    "30, ?, <=50K",
]


def write_uci_files(root, rows: int = 400, seed: int = 5):
    """adult.data and adult.test in the UCI format: ', ' separated, no header; the test
    file starts with the junk line and writes labels with a trailing dot."""
    table = adult.synthetic_census(rows, seed)
    lines = [", ".join(str(v) for v in row) for row in table.itertuples(index=False)]
    half = len(lines) // 2
    folder = root / "adult"
    folder.mkdir(parents=True)
    (folder / "adult.data").write_text("\n".join(REAL_LINES + lines[:half]) + "\n\n")
    test_lines = [line + "." for line in REAL_LINES + lines[half:]]
    (folder / "adult.test").write_text("|1x3 Cross validator\n" + "\n".join(test_lines) + "\n")
    return table


def test_real_reader_parses_the_uci_format(tmp_path):
    table = write_uci_files(tmp_path)
    raw = adult.read_real(tmp_path)
    assert list(raw.columns) == list(adult.COLUMNS)
    assert len(raw) == len(table) + 2 * len(REAL_LINES)     # junk and blank lines skipped
    assert set(raw["income"]) == {">50K", "<=50K"}           # trailing dots removed
    assert raw.loc[0, "age"] == 39 and raw.loc[0, "workclass"] == "State-gov"
    assert raw.loc[2, "occupation"] == "?" and raw["hours-per-week"].dtype.kind == "i"


def test_real_files_give_the_documented_split(tmp_path, monkeypatch, capsys):
    table = write_uci_files(tmp_path)
    monkeypatch.setenv("TAI_DATA_DIR", str(tmp_path))
    data = adult.load_adult(source="auto", seed=0)
    assert data.source == "real" and "real UCI Adult" in capsys.readouterr().out
    white_or_black = table["race"].isin(["White", "Black"]).sum() + 2 * len(REAL_LINES)
    assert len(data.X_train) + len(data.X_test) == white_or_black
    assert abs(len(data.X_train) - len(data.X_test)) <= 1   # 50/50
    # 5 numeric + one-hot of 6 categorical columns over adult.names, first level dropped
    assert data.X_train.shape[1] == 94 and data.X_train.dtypes.eq(np.float32).all()
    assert not {"race", "sex", "fnlwgt", "income"} & set(data.feature_names)
    assert {"occupation_Unknown", "relationship_Husband", "age"} <= set(data.feature_names)
    assert list(data.Z_train.columns) == ["race", "sex"]
    assert set(np.unique(data.Z_train)) <= {0, 1} and set(data.y_train) <= {0, 1}
    assert abs(data.X_train.mean()).max() < 1e-4          # standardized on train


def test_real_labels_and_sensitive_attributes_are_coded_as_documented(tmp_path, monkeypatch):
    folder = tmp_path / "adult"
    folder.mkdir()
    (folder / "adult.data").write_text("\n".join(REAL_LINES * 40) + "\n")
    (folder / "adult.test").write_text("|1x3 Cross validator\n" + REAL_LINES[1] + ".\n")
    monkeypatch.setenv("TAI_DATA_DIR", str(tmp_path))
    data = adult.load_adult(source="real", verbose=False)
    rows = pd.concat([data.Z_train.assign(y=data.y_train), data.Z_test.assign(y=data.y_test)])
    # the Black woman of line 3 earns <= 50K; the White woman of line 2 > 50K
    assert rows.groupby(["race", "sex"])["y"].mean().to_dict() == {
        (0, 0): 0.0, (1, 0): 1.0, (1, 1): 0.0}



def test_root_reads_the_real_files_from_another_folder(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    write_uci_files(shared)
    monkeypatch.setenv("TAI_DATA_DIR", str(tmp_path / "empty"))   # no adult/ there
    data = adult.load_adult(source="real", verbose=False, root=shared)
    direct = adult.load_adult(source="real", verbose=False, root=shared)
    assert data.source == "real", f"expected the files under root to be read, got {data.source}"
    assert data.X_train.equals(direct.X_train), (
        "the same root and seed should give the same split")
    with pytest.raises(FileNotFoundError, match="missing"):
        adult.load_adult(source="real", verbose=False, root=tmp_path / "empty")

def test_real_requested_but_missing_says_what_to_run():
    with pytest.raises(FileNotFoundError, match=r"download.py adult"):
        adult.load_adult(source="real")


def test_auto_falls_back_to_the_standin_with_a_notice(capsys):
    data = adult.load_adult(source="auto", size=500)
    assert data.source == "standin" and "stand-in" in data.description
    out = capsys.readouterr().out
    assert "embedded stand-in" in out and "download.py adult" in out


@pytest.mark.parametrize("kwargs", [{"source": "web"}, {"size": 10}, {"size": 2.5}])
def test_bad_arguments_are_named(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        adult.load_adult(**kwargs)


def test_standin_is_deterministic_and_has_the_adult_schema():
    first, again, other = (adult.synthetic_census(3000, s) for s in (1, 1, 2))
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)
    assert list(first.columns) == list(adult.COLUMNS)
    for column, levels in adult.VOCABULARY.items():
        assert set(first[column]) <= set(levels) | {"?"}, column
    assert set(first["race"]) <= set(adult.RACES) and set(first["sex"]) == {"Male", "Female"}
    education = first["education"].map(adult.EDUCATION.index) + 1
    assert (education == first["education-num"]).all()
    assert first["age"].between(17, 90).all() and first["hours-per-week"].between(1, 99).all()


def test_standin_reproduces_its_documented_bias():
    table = adult.synthetic_census(200_000, seed=0)
    table = table[table["race"].isin(["White", "Black"])]
    rich = table["income"] == ">50K"
    measured = {**rich.groupby(table["sex"]).mean(), **rich.groupby(table["race"]).mean()}
    for group, rate in adult.STANDIN_RATES.items():
        assert measured[group] == pytest.approx(rate, abs=0.01), group
    assert measured["Female"] / measured["Male"] < 0.5 and measured["Black"] / measured["White"] < 0.6


def test_standin_features_leak_the_sensitive_attributes():
    """The proxies: without the sex and race columns, X still predicts both."""
    data = adult.load_adult(source="standin", size=6000, verbose=False)
    for attribute, least in (("sex", 0.85), ("race", 0.55)):
        model = LogisticRegression(max_iter=500).fit(data.X_train, data.Z_train[attribute])
        auc = roc_auc_score(data.Z_test[attribute], model.predict_proba(data.X_test)[:, 1])
        assert auc > least, (attribute, auc)


def test_the_kits_loader_serves_adult_with_the_same_source_setting(capsys):
    from helpers import data

    loaded = data.load("adult", source="standin", size=600, seed=2)
    direct = adult.load_adult(source="standin", size=600, seed=2, verbose=False)
    assert isinstance(loaded, adult.AdultData), f"expected AdultData, got {type(loaded)}"
    pd.testing.assert_frame_equal(loaded.X_train, direct.X_train)
    assert "embedded stand-in" in capsys.readouterr().out, "data.load should say what it used"
    with pytest.raises(FileNotFoundError, match="download.py adult"):
        data.load("adult", source="real")
    with pytest.raises(ValueError, match="split"):
        data.load("adult", "test")
