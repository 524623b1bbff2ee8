"""UCI Adult (1994 US census, income > 50k): the real files and an embedded stand-in.

>>> from helpers import data
>>> adult = data.load("adult", source="auto", seed=0)              # doctest: +SKIP
adult: embedded stand-in (synthetic census with planted bias), 6,000 rows ...

Adult is a table, not images: :func:`helpers.data.load` serves it from
``helpers.data.TABLES`` (the image registry's ``ImageDataset`` holds uint8 pictures) by
calling :func:`load_adult` here, which returns both halves as one :class:`AdultData`.
``source`` works as for the images: ``"real"`` reads ``adult/adult.data``
and ``adult/adult.test`` from the data directory (``python data_scripts/download.py
adult``), ``"standin"`` generates the synthetic census below, ``"auto"`` takes the real
files when present and otherwise the stand-in, with a notice.

Preparation (as in the course report and its public reproductions): keep the rows whose
race is White or Black, y = income > 50k, Z = {race: White = 1, sex: Male = 1}, X = every
other column except ``fnlwgt`` (a sampling weight, not a property of the person), with
missing values ('?') as the category "Unknown", categories one-hot encoded over the full
vocabulary of ``adult.names`` (first level dropped: 94 columns; the report's 93 is what
``pd.get_dummies`` finds in ``adult.data`` alone), then a stratified 50/50 train/test
split and standardization with the training mean and deviation.

The stand-in's causal story (every arrow is a line of :func:`synthetic_census`): sex and
race are drawn first. Race shifts education (unequal schooling); sex and race shift
marriage as the census records it (the "Husband" of a married couple is the householder,
so married women are rarer), and marriage fixes ``relationship`` (Husband/Wife, a
near-perfect proxy for sex). Sex and education pick the occupation (men in crafts and
transport, women in clerical and service jobs) and sex the weekly hours. Income then
depends on education, age, marriage, occupation and hours — *and directly* on sex and
race (discrimination). So sex and race shift income twice: directly, and through
proxies that stay in X after the sensitive columns are dropped. Two more proxies of race
have no income effect of their own, as in Adult: single parenthood ("Unmarried") is
twice as common among Black adults, and 8 % of Black people were born in the Caribbean.
Capital gains and losses follow income. The planted rates are in :data:`STANDIN_RATES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.checks import check_int, check_positive_int
from helpers.paths import data_dir

COLUMNS = ("age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
           "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
           "hours-per-week", "native-country", "income")
NUMERIC = ("age", "education-num", "capital-gain", "capital-loss", "hours-per-week")
SENSITIVE = ("race", "sex")
MISSING = "Unknown"
WITH_MISSING = ("workclass", "occupation", "native-country")   # the columns with '?'
EDUCATION = ("Preschool", "1st-4th", "5th-6th", "7th-8th", "9th", "10th", "11th", "12th",
             "HS-grad", "Some-college", "Assoc-voc", "Assoc-acdm", "Bachelors", "Masters",
             "Prof-school", "Doctorate")            # education-num = index + 1
VOCABULARY = {
    "workclass": ("Private", "Self-emp-not-inc", "Self-emp-inc", "Federal-gov", "Local-gov",
                  "State-gov", "Without-pay", "Never-worked"),
    "education": EDUCATION,
    "marital-status": ("Married-civ-spouse", "Divorced", "Never-married", "Separated",
                       "Widowed", "Married-spouse-absent", "Married-AF-spouse"),
    "occupation": ("Tech-support", "Craft-repair", "Other-service", "Sales", "Exec-managerial",
                   "Prof-specialty", "Handlers-cleaners", "Machine-op-inspct", "Adm-clerical",
                   "Farming-fishing", "Transport-moving", "Priv-house-serv", "Protective-serv",
                   "Armed-Forces"),
    "relationship": ("Wife", "Own-child", "Husband", "Not-in-family", "Other-relative",
                     "Unmarried"),
    "native-country": ("United-States", "Cambodia", "England", "Puerto-Rico", "Canada",
                       "Germany", "Outlying-US(Guam-USVI-etc)", "India", "Japan", "Greece",
                       "South", "China", "Cuba", "Iran", "Honduras", "Philippines", "Italy",
                       "Poland", "Jamaica", "Vietnam", "Mexico", "Portugal", "Ireland",
                       "France", "Dominican-Republic", "Laos", "Ecuador", "Taiwan", "Haiti",
                       "Columbia", "Hungary", "Guatemala", "Nicaragua", "Scotland",
                       "Thailand", "Yugoslavia", "El-Salvador", "Trinadad&Tobago", "Peru",
                       "Hong", "Holand-Netherlands"),
}
RACES = ("White", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other", "Black")
#: P(income > 50k) per group in the stand-in (White/Black rows), as planted: measured on
#: 200,000 rows; the real Adult files give male 0.31, female 0.11, White 0.25, Black 0.12.
STANDIN_RATES = {"Male": 0.295, "Female": 0.128, "White": 0.253, "Black": 0.126}
SOURCES = ("auto", "real", "standin")


@dataclass(frozen=True)
class AdultData:
    """Adult, prepared: features X, label y, sensitive attributes Z, train and test halves.

    ``X_*``: float32 DataFrames (standardized, one-hot columns), ``y_*``: int Series
    (1 = income > 50k), ``Z_*``: int DataFrames with columns ``race`` (1 = White) and
    ``sex`` (1 = Male). ``source`` is "real" or "standin"; ``description`` says which.
    """

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    Z_train: pd.DataFrame
    Z_test: pd.DataFrame
    source: str
    description: str

    @property
    def feature_names(self) -> list[str]:
        return list(self.X_train.columns)


def real_present(root: Path | None = None) -> bool:
    """Whether ``adult/adult.data`` and ``adult/adult.test`` are in the data directory."""
    folder = Path(root or data_dir()) / "adult"
    return (folder / "adult.data").exists() and (folder / "adult.test").exists()


def read_real(root: Path | None = None) -> pd.DataFrame:
    """Both UCI files as one raw table with :data:`COLUMNS` (strings stripped).

    ``adult.test`` starts with a junk line ("|1x3 Cross validator") and writes labels
    with a trailing dot (">50K."); both are handled. Missing values stay '?'.
    """
    folder = Path(root or data_dir()) / "adult"
    tables = []
    for name, skip in (("adult.data", 0), ("adult.test", 1)):
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing. Download Adult with `python data_scripts/download.py "
                f"adult` (needs network), set $TAI_DATA_DIR, or use source='standin'.")
        table = pd.read_csv(path, header=None, names=list(COLUMNS), skiprows=skip,
                            skipinitialspace=True, dtype=str, skip_blank_lines=True)
        table = table.dropna(subset=["income"])      # blank or short trailing lines
        table["income"] = table["income"].str.rstrip(".")
        tables.append(table)
    raw = pd.concat(tables, ignore_index=True)
    for column in NUMERIC + ("fnlwgt",):
        raw[column] = pd.to_numeric(raw[column], errors="raise")
    unknown = set(raw["income"]) - {">50K", "<=50K"}
    if unknown:
        raise ValueError(f"{folder}: unexpected income labels {sorted(unknown)}; are these "
                         f"the UCI Adult files?")
    return raw


def synthetic_census(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` rows of a synthetic census with Adult's columns and values (see module doc).

    Deterministic from ``seed``; missing values appear as '?' as in the real files.
    """
    check_positive_int("n", n)
    rng = np.random.default_rng([seed, 1994])
    male = rng.random(n) < 0.67
    race = rng.choice(RACES, n, p=[0.855, 0.031, 0.01, 0.008, 0.096])
    black = race == "Black"
    age = np.clip(np.round(17 + rng.gamma(2.6, 8.0, n)), 17, 90).astype(int)
    # unequal schooling: race shifts education
    education_num = np.clip(np.round(10.2 + 2.4 * rng.normal(size=n) - 0.5 * black), 1, 16)
    education_num = education_num.astype(int)
    # marriage as recorded: depends on age, sex (householder convention) and race
    married_p = _sigmoid(-0.5 + 0.1 * (age - 25)) * np.where(male, 0.9, 0.25)
    married = rng.random(n) < married_p * np.where(black, 0.75, 1.0)
    marital = _unmarried_status(rng, age, male, n)
    marital[married] = "Married-civ-spouse"
    relationship = _relationship(rng, married, male, black, age, n)
    occupation, occupation_income = _occupation(rng, male, black, education_num, n)
    hours = np.clip(np.round(rng.normal(36 + 6 * male + 3 * (married & male), 10)), 1, 99)
    # income: legitimate causes plus a direct effect of sex and race
    score = (-2.65 + 0.45 * (education_num - 10) + 0.045 * (age - 38)
             - 0.0012 * (age - 45) ** 2 + 1.6 * married + occupation_income
             + 0.035 * (hours - 40) + 0.5 * male - 0.65 * black)
    rich = rng.random(n) < _sigmoid(score)
    gain = np.where(rng.random(n) < 0.04 + 0.12 * rich,
                    np.round(np.exp(rng.normal(8.3 + 0.8 * rich, 0.9, n))), 0)
    loss = np.where(rng.random(n) < 0.03 + 0.04 * rich,
                    np.round(rng.normal(1800 + 250 * rich, 300, n)).clip(100), 0)
    workclass = rng.choice(VOCABULARY["workclass"], n,
                           p=_normalized([740, 80, 35, 30, 65, 40, 0.5, 0.3]))
    no_job_info = rng.random(n) < 0.055       # like Adult: '?' in both columns together
    workclass[no_job_info], occupation[no_job_info] = "?", "?"
    countries = VOCABULARY["native-country"]
    country = rng.choice(countries, n, p=_normalized([900, *[2.5] * 40]))
    # Caribbean-born Black residents (Adult's Jamaica, Haiti, Trinidad rows): a race proxy
    caribbean = black & (rng.random(n) < 0.08)
    country[caribbean] = rng.choice(["Jamaica", "Haiti", "Trinadad&Tobago"], caribbean.sum(),
                                    p=[0.55, 0.3, 0.15])
    country[rng.random(n) < 0.018] = "?"
    return pd.DataFrame({
        "age": age, "workclass": workclass,
        "fnlwgt": np.round(np.exp(rng.normal(12.0, 0.5, n))).astype(int),
        "education": np.array(EDUCATION)[education_num - 1], "education-num": education_num,
        "marital-status": marital, "occupation": occupation, "relationship": relationship,
        "race": race, "sex": np.where(male, "Male", "Female"),
        "capital-gain": gain.astype(int), "capital-loss": loss.astype(int),
        "hours-per-week": hours.astype(int), "native-country": country,
        "income": np.where(rich, ">50K", "<=50K"),
    }, columns=list(COLUMNS))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _normalized(weights) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    return weights / weights.sum()


def _unmarried_status(rng, age, male, n) -> np.ndarray:
    """Never-married when young; later divorced or separated, widowed (women, over 50)."""
    status = rng.choice(["Divorced", "Separated", "Married-spouse-absent",
                         "Married-AF-spouse"], n, p=[0.8, 0.14, 0.055, 0.005]).astype(object)
    status[rng.random(n) < np.where(male, 0.05, 0.25) * (age > 50)] = "Widowed"
    status[rng.random(n) < _sigmoid(3.0 - 0.12 * (age - 17))] = "Never-married"
    return status


def _relationship(rng, married, male, black, age, n) -> np.ndarray:
    """Husband/Wife when married; otherwise own child (young), alone, single parent, kin.

    Single parents ("Unmarried") are twice as common among Black adults, as in Adult.
    """
    single = np.where(
        male[:, None], [[0.0, 0.7, 0.12, 0.18]], [[0.0, 0.5, 0.38, 0.12]])
    single[black, 2] *= 2.0
    single[:, 1:] /= single[:, 1:].sum(axis=1, keepdims=True)
    child = _sigmoid(2.0 - 0.25 * (age - 17))
    single[:, 0] = child
    single[:, 1:] *= (1 - child)[:, None]
    pick = (rng.random(n)[:, None] > np.cumsum(single, axis=1)).sum(axis=1).clip(max=3)
    relationship = np.array(["Own-child", "Not-in-family", "Unmarried",
                             "Other-relative"], dtype=object)[pick]
    relationship[married] = np.where(male[married], "Husband", "Wife")
    return relationship


# occupation: (base log-odds, shift for men, per education point, per Black, income effect)
_OCCUPATIONS = {
    "Prof-specialty": (0.0, -0.2, 0.55, -0.4, 0.7),
    "Exec-managerial": (0.0, 0.4, 0.35, -0.6, 0.9),
    "Craft-repair": (0.0, 1.4, -0.15, 0.0, 0.0),
    "Adm-clerical": (0.2, -1.3, 0.0, 0.2, -0.4),
    "Sales": (0.0, 0.1, 0.05, -0.2, 0.2),
    "Other-service": (0.0, -0.9, -0.3, 0.4, -1.2),
    "Machine-op-inspct": (-0.4, 0.3, -0.3, 0.3, -0.4),
    "Transport-moving": (-0.6, 1.6, -0.25, 0.3, -0.1),
    "Handlers-cleaners": (-0.7, 1.0, -0.35, 0.3, -0.9),
    "Farming-fishing": (-1.0, 1.2, -0.3, 0.0, -0.7),
    "Tech-support": (-1.1, -0.1, 0.2, 0.0, 0.2),
    "Protective-serv": (-1.4, 1.2, 0.0, 0.3, 0.2),
    "Priv-house-serv": (-2.5, -2.0, -0.4, 0.3, -1.5),
    "Armed-Forces": (-6.0, 1.0, 0.0, 0.0, 0.0),
}


def _occupation(rng, male, black, education_num, n) -> tuple[np.ndarray, np.ndarray]:
    """Occupation from sex, race and education (softmax); returns it and its income effect."""
    table = np.array(list(_OCCUPATIONS.values()))
    logits = (table[:, 0] + table[:, 1] * male[:, None]
              + table[:, 2] * (education_num[:, None] - 10) + table[:, 3] * black[:, None])
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    pick = (rng.random(n)[:, None] > np.cumsum(probabilities, axis=1)).sum(axis=1)
    pick = pick.clip(max=len(table) - 1)
    return np.array(list(_OCCUPATIONS), dtype=object)[pick], table[pick, 4]


def prepare(raw: pd.DataFrame, seed: int = 0, size: int | None = None) -> tuple:
    """Raw table → ``(X, y, Z)`` of the White/Black rows (see module doc), unsplit.

    ``size`` keeps a seeded random subset of that many rows. ``X`` is one-hot but not yet
    standardized (that needs the training split).
    """
    missing = set(COLUMNS) - set(raw.columns)
    if missing:
        raise ValueError(f"raw: missing columns {sorted(missing)}; expected {COLUMNS}.")
    table = raw[raw["race"].isin(["White", "Black"])].reset_index(drop=True)
    if size is not None:
        check_int("size", size, 2)
        if size < len(table):
            keep = np.random.default_rng([seed, 7]).choice(len(table), size, replace=False)
            table = table.iloc[np.sort(keep)].reset_index(drop=True)
    y = (table["income"] == ">50K").astype(int).rename("income")
    Z = pd.DataFrame({"race": (table["race"] == "White").astype(int),
                      "sex": (table["sex"] == "Male").astype(int)})
    features = table.drop(columns=["income", "fnlwgt", *SENSITIVE])
    for column, levels in VOCABULARY.items():
        values = features[column].replace("?", MISSING)
        unknown = set(values) - set(levels) - ({MISSING} if column in WITH_MISSING else set())
        if unknown:
            raise ValueError(f"column {column!r} has values outside adult.names: "
                             f"{sorted(unknown)[:5]}")
        extra = (MISSING,) if column in WITH_MISSING else ()
        features[column] = pd.Categorical(values, categories=(*levels, *extra))
    X = pd.get_dummies(features, columns=list(VOCABULARY), drop_first=True, dtype=np.float32)
    return X.astype(np.float32), y, Z


def split_and_scale(X: pd.DataFrame, y: pd.Series, Z: pd.DataFrame, seed: int = 0) -> tuple:
    """Stratified (by y) 50/50 split; X standardized with the training mean and deviation."""
    from sklearn.model_selection import train_test_split

    parts = train_test_split(X, y, Z, test_size=0.5, stratify=y, random_state=seed)
    X_train, X_test, y_train, y_test, Z_train, Z_test = parts
    mean, deviation = X_train.mean(), X_train.std().replace(0, 1.0)
    scale = lambda frame: ((frame - mean) / deviation).astype(np.float32)
    return scale(X_train), scale(X_test), y_train, y_test, Z_train, Z_test


def load_adult(source: str = "auto", size: int | None = None, seed: int = 0,
               verbose: bool = True, root: Path | None = None) -> AdultData:
    """Adult prepared for the fairness chapter, real or stand-in (see module doc).

    ``size``: number of White/Black rows before the 50/50 split (a seeded subset of the
    real data; that many generated stand-in rows); ``None`` = all real rows, or 6,000
    stand-in rows. ``root``: the folder holding ``adult/`` (default: the data directory;
    e.g. a read-only shared copy). Raises ``ValueError`` for a bad ``source``/``size``
    and ``FileNotFoundError`` for ``source="real"`` without the files.
    """
    if source not in SOURCES:
        raise ValueError(f"source={source!r}: expected one of {', '.join(SOURCES)}.")
    if size is not None:
        check_int("size", size, 100)
    available = source != "standin" and real_present(root)
    if source == "real" and not available:
        read_real(root)                              # raises with the download hint
    if available:
        raw, description = read_real(root), "real UCI Adult"
    else:
        # generate a little more, since rows of other races are dropped
        count = size or 6000
        raw = synthetic_census(int(count / 0.95) + 50, seed)
        raw = raw[raw["race"].isin(["White", "Black"])].iloc[:count]
        description = "embedded stand-in (synthetic census with planted bias)"
    X, y, Z = prepare(raw, seed, size)
    data = AdultData(*split_and_scale(X, y, Z, seed), source="real" if available else "standin",
                     description=description)
    if verbose:
        notice = "" if available or source == "standin" else (
            f" (UCI Adult not found in {root or data_dir()}; run `python data_scripts/download.py "
            f"adult` for the real data)")
        print(f"adult: {description}, {len(X):,} rows ({len(data.y_train):,} train, "
              f"{len(data.y_test):,} test), {X.shape[1]} features{notice}")
    return data
