"""The book's figures: every plotting function draws in the house style of helpers.plots
(column width, dpi, fonts, palette), keeps its legends off the data, gives heat maps a
colour bar; every walkthrough cell that draws a figure carries a caption, a name and an
alt text (myst-nb cell metadata), and draws exactly one figure.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from helpers import (CHAPTERS, backdoor, backdoor_plots, causal_plots,  # noqa: E402
                     fairness_plots, ood_plots, plots, robustness_plots, sparsity_plots,
                     stealing_plots)
from helpers.data import ImageDataset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODULES = (plots, robustness_plots, fairness_plots, backdoor_plots, ood_plots,
           sparsity_plots, causal_plots, stealing_plots)
NOT_FIGURES = {"house_style", "figure_legend", "wrap", "results_table"}  # plots' tools
RNG = np.random.default_rng(0)
HISTORY = {"epoch": [1, 2, 3], "train_loss": [2.0, 1.0, 0.5], "train_acc": [0.2, 0.6, 0.8],
           "val_loss": [2.1, 1.2, 0.9], "val_acc": [0.2, 0.5, 0.6]}
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]


def _poisoned():
    images = torch.randint(0, 256, (24, 3, 16, 16), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    clean = ImageDataset(images, torch.tensor([0, 1] * 12), name="pets", split="train",
                         source="standin", description="random", classes=("cat", "dog"))
    return backdoor.poison(clean, backdoor.make_trigger(3), 1, 0, fraction=1.0)


def _scores(n=300, shift=0.0):
    return RNG.normal(shift, 1, n)


def _effects():
    return {"edges": np.linspace(0, 1, 6), "bin_effects": RNG.normal(size=5) * 0.01,
            "weights": RNG.dirichlet(np.ones(5))}


# One call per plotting function, with data shaped like the walkthrough's.
FIGURES = {
    "plots.training_curves": lambda: plots.training_curves(
        {"baseline": HISTORY, "no batch norm": HISTORY, "Adam": HISTORY}, title="t",
        validation="SVHN test"),
    "plots.image_grid": lambda: plots.image_grid(
        torch.rand(12, 3, 32, 32), list(range(10)) + [0, 1], [0] * 12, CLASSES, ncols=6,
        row_titles=["clean", "PGD"]),
    "plots.comparison_bars": lambda: plots.comparison_bars(
        {run: {"SVHN": 90.0 + k, "MNIST": 50.0 - k} for k, run in enumerate(
            ["baseline", "no batch norm", "dropout 0.3", "label smoothing 0.1",
             "augmentation", "pretrained", "Adam"])}, title="accuracy"),
    "robustness_plots.feature_maps": lambda: robustness_plots.feature_maps(
        {"clean": RNG.normal(size=(100, 2)), "adversarial": RNG.normal(size=(100, 2))},
        np.arange(100) % 10, CLASSES, title="t", method="tsne"),
    "robustness_plots.accuracy_curves": lambda: robustness_plots.accuracy_curves(
        [0, 2 / 255, 4 / 255, 8 / 255], {"standard": [0.9, 0.5, 0.2, 0.0],
                                         "adversarially trained": [0.8, 0.7, 0.5, 0.3]}),
    "robustness_plots.epoch_accuracies": lambda: robustness_plots.epoch_accuracies(
        {name: {**HISTORY, "val_pgd_acc": [0.1, 0.2, 0.3]} for name in
         ("standard", "adversarially trained", "TRADES β = 1", "TRADES β = 6")}
        | {"circle loss": {**HISTORY, "train_acc": [float("nan")] * 3}}),
    "fairness_plots.group_distributions": lambda: fairness_plots.group_distributions(
        {"before": RNG.beta(1, 6, 400), "after": RNG.beta(1, 6, 400)},
        pd.DataFrame({"race": np.arange(400) % 2, "sex": np.arange(400) // 200}),
        {"race": ("Black", "White"), "sex": ("Female", "Male")}),
    "fairness_plots.debiasing_curves": lambda: fairness_plots.debiasing_curves(
        {"iteration": [0, 1, 2], "accuracy": [85, 84, 83], "roc_auc": [90, 89, 88],
         "p_rule_race": [40, 60, 80], "p_rule_sex": [30, 50, 90],
         "adversary_auc_race": [70, 60, 52], "adversary_auc_sex": [80, 65, 51]},
        ["race", "sex"]),
    "fairness_plots.tradeoff": lambda: fairness_plots.tradeoff(
        pd.DataFrame({"accuracy": [85.0, 83.0], "p% race": [40.0, 85.0],
                      "p% sex": [30.0, 90.0]}, index=[0.0, 1.0]), ["race", "sex"]),
    "backdoor_plots.poisoned_grid": lambda: backdoor_plots.poisoned_grid(_poisoned()),
    "backdoor_plots.triggered_predictions": lambda: backdoor_plots.triggered_predictions(
        {"clean": (torch.rand(6, 3, 16, 16), torch.softmax(torch.randn(6, 2), 1)),
         "with trigger": (torch.rand(6, 3, 16, 16), torch.softmax(torch.randn(6, 2), 1))},
        ("cat", "dog")),
    "backdoor_plots.score_histograms": lambda: backdoor_plots.score_histograms(
        {"plain": (_scores(), np.arange(300) > 280), "adaptive": (_scores(),
                                                                  np.arange(300) > 280)}),
    "backdoor_plots.latent_projection": lambda: backdoor_plots.latent_projection(
        {"plain": (RNG.normal(size=(60, 5)), np.arange(60) % 2, np.arange(60) > 50)},
        ("cat", "dog")),
    "ood_plots.inlier_fraction_curve": lambda: ood_plots.inlier_fraction_curve(
        _scores(shift=1), 0.0, {"frog (held out)": _scores(), "SVHN": _scores(),
                                "noise": _scores(shift=2)}, title="MSP"),
    "ood_plots.score_histograms": lambda: ood_plots.score_histograms(
        {"MSP": (_scores(shift=1), {"frog": _scores(), "noise": _scores()}),
         "energy": (_scores(shift=1), {"frog": _scores(), "noise": _scores()})},
        {"MSP": 0.0, "energy": 0.0}, title="t"),
    "sparsity_plots.density_curve": lambda: sparsity_plots.density_curve(
        pd.DataFrame({"accuracy": [0.6, 0.58, 0.5], "density": [0.6, 0.3, 0.1]},
                     index=[0.0, 1e-4, 1e-3])),
    "sparsity_plots.weight_histograms": lambda: sparsity_plots.weight_histograms(
        {name: torch.randn(500) for name in ("Base", "L1", "L2", "ElasticNet")}),
    "sparsity_plots.overlays": lambda: sparsity_plots.overlays(
        torch.rand(3, 3, 16, 16), {"occlusion 4×4": torch.rand(3, 16, 16),
                                   "Grad-CAM (blurred)": torch.rand(3, 16, 16),
                                   "Δ Grad-CAM": torch.rand(3, 16, 16) - 0.5},
        ["cat (dog)", "ship (ship)", "automobile (truck)"], title="t"),
    "sparsity_plots.ssd_boxplot": lambda: sparsity_plots.ssd_boxplot(
        {name: {"sliding patch": RNG.gamma(2, size=20), "Grad-CAM": RNG.gamma(2, size=20)}
         for name in ("Base", "L1", "L2", "ElasticNet")}),
    "sparsity_plots.faithfulness_curves": lambda: sparsity_plots.faithfulness_curves(
        {mode: pd.DataFrame({method: np.sort(RNG.random(17))[::sign]
                             for method in ("random", "CAM", "Grad-CAM", "Grad-CAM++",
                                            "guided backprop", "Guided Grad-CAM",
                                            "occlusion 4×4", "LIME")},
                            index=np.linspace(0, 1, 17))
         for mode, sign in (("deletion", -1), ("insertion", 1))}, title="t"),
    "causal_plots.maps_figure": lambda: causal_plots.maps_figure(
        {"clean": torch.rand(3, 1, 12, 12), "PGD": torch.rand(3, 1, 12, 12)},
        {name: {"clean": torch.randn(3, 12, 12), "PGD": torch.randn(3, 12, 12)}
         for name in ("CAM", "CEM")}, titles=["T-shirt/top", "Ankle boot", "Bag"]),
    "causal_plots.roc_figure": lambda: causal_plots.roc_figure(
        {name: {"fpr": np.linspace(0, 1, 11), "tpr": np.linspace(0, 1, 11) ** 0.5,
                "auroc": 0.7} for name in ("FGSM", "BIM", "PGD")}),
    "causal_plots.effect_bins_figure": lambda: causal_plots.effect_bins_figure(
        {"Z₀": _effects(), "PWM": _effects(), "PGD": _effects()}, title="unit 0"),
    "stealing_plots.budget_curves": lambda: stealing_plots.budget_curves(
        [100, 300, 1000], {"label": [0.3, 0.5, 0.7], "probabilities": [0.4, 0.7, 0.9]},
        reference=0.95),
    "stealing_plots.attack_curve": lambda: stealing_plots.attack_curve(
        [10, 100, 1000], [0.2, 0.5, 0.8], 0.95),
    "stealing_plots.answer_bars": lambda: stealing_plots.answer_bars(
        {"no defence": RNG.dirichlet(np.ones(10)), "rounded": RNG.dirichlet(np.ones(10))}),
}
HEAT_MAPS = {"sparsity_plots.overlays", "causal_plots.maps_figure"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def figure_functions() -> dict[str, object]:
    """{module.function: function} for every public function of the plotting modules
    that draws a figure (all but the house-style tools)."""
    found = {}
    for module in MODULES:
        short = module.__name__.split(".")[-1]
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ == module.__name__ and not name.startswith("_") \
                    and name not in NOT_FIGURES:
                found[f"{short}.{name}"] = function
    return found


def test_every_plotting_function_is_in_the_house_style_and_exercised_here():
    functions = figure_functions()
    unstyled = [name for name, function in functions.items()
                if not getattr(function, "house_style", False)]
    assert not unstyled, f"expected every figure function decorated @house_style: {unstyled}"
    assert set(functions) == set(FIGURES), (
        f"expected one sample call per figure function; missing "
        f"{sorted(set(functions) - set(FIGURES))}, stale {sorted(set(FIGURES) - set(functions))}")


def _texts(fig):
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_fits_the_column_in_legible_type(name):
    fig = FIGURES[name]()
    width, height = fig.get_size_inches()
    assert width <= plots.COLUMN_WIDTH + 1e-9, (
        f"{name}: expected at most {plots.COLUMN_WIDTH} in wide, got {width:.2f}")
    assert width * fig.dpi <= 1400, f"{name}: expected a PNG ≤ 1400 px, got {width * fig.dpi}"
    assert fig.dpi == plots.DPI, f"{name}: expected dpi {plots.DPI}, got {fig.dpi}"
    small = {t.get_text(): t.get_fontsize() for t in _texts(fig)
             if t.get_fontsize() < plots.MIN_FONT}
    assert not small, f"{name}: expected every text ≥ {plots.MIN_FONT} pt, got {small}"
    assert plt.rcParams["figure.dpi"] != plots.DPI, (
        "expected the house style to leave the global rc settings untouched")


def _data_boxes(ax, renderer):
    """Display-space boxes (x0, y0, x1, y1) of the data drawn in ``ax``: line points,
    scatter points, bars; a point is a box of size 0. Boxes are clipped to the axes (a
    bar on a log axis reaches far below it)."""
    boxes, inside = [], ax.get_window_extent(renderer)
    for line in ax.get_lines():
        xy = np.column_stack(line.get_data()).astype(float)
        if len(xy) and line.get_visible():
            if line.get_transform() != ax.transData:  # axhline/axvline: not data points
                continue
            for x, y in ax.transData.transform(xy):
                boxes.append((x, y, x, y))
    for collection in ax.collections:
        if isinstance(collection, PathCollection):
            for x, y in collection.get_offset_transform().transform(collection.get_offsets()):
                boxes.append((x, y, x, y))
    for patch in ax.patches:
        if isinstance(patch, Rectangle) and patch.get_height() and patch.get_width():
            box = patch.get_window_extent(renderer)
            boxes.append((box.x0, box.y0, box.x1, box.y1))
    return [(max(x0, inside.x0), max(y0, inside.y0), min(x1, inside.x1), min(y1, inside.y1))
            for x0, y0, x1, y1 in boxes
            if x0 <= inside.x1 and x1 >= inside.x0 and y0 <= inside.y1 and y1 >= inside.y0]


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_no_legend_covers_data(name):
    fig = FIGURES[name]()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    for legend in legends:
        frame = legend.get_window_extent(renderer)
        for ax in fig.axes:
            covered = [box for box in _data_boxes(ax, renderer)
                       if box[0] < frame.x1 and box[2] > frame.x0
                       and box[1] < frame.y1 and box[3] > frame.y0]
            assert not covered, (f"{name}: expected the legend clear of the data, it covers "
                                 f"{len(covered)} drawn item(s) of {ax.get_title()!r}")


@pytest.mark.parametrize("name", sorted(HEAT_MAPS))
def test_heat_maps_have_a_labelled_colour_bar(name):
    fig = FIGURES[name]()
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert bars, f"{name}: expected a colour bar next to the heat maps, got none"
    assert all(bar.get_ylabel() for bar in bars), f"{name}: expected labelled colour bars"


def test_house_style_palette_is_colour_blind_safe_and_used():
    fig = FIGURES["robustness_plots.accuracy_curves"]()
    colours = [matplotlib.colors.to_hex(line.get_color()) for line in fig.axes[0].lines[:2]]
    assert colours == [c.lower() for c in plots.PALETTE[:2]], (
        f"expected the Okabe–Ito colours {plots.PALETTE[:2]}, got {colours}")


# ------------------------------------------------------------ walkthrough metadata

def _source(cell) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


FIGURE_CALL = re.compile(r"\b(?:plots|splots|\w+_plots)\.(\w+)\(")


def figure_cells(notebook: dict) -> list[tuple[int, dict, int]]:
    """[(index, cell, number of figures it draws)] for the code cells that draw: calls
    at the top level (unindented) of a figure function or of a notebook function
    whose body calls one."""
    drawing = {name.split(".")[-1] for name in FIGURES}
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    for cell in cells:  # notebook functions that draw, e.g. def feature_map(...)
        text = _source(cell)
        for match in re.finditer(r"^def (\w+)\(.*\n((?:[ \t].*\n|\n)*)", text + "\n", re.M):
            if any(m.group(1) in drawing for m in FIGURE_CALL.finditer(match.group(2))):
                drawing.add(match.group(1))  # its body (the indented lines) draws
    found = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        calls = 0
        for line in _source(cell).splitlines():
            if line[:1].isspace() or line.startswith(("def ", "#")):
                continue
            calls += sum(1 for m in re.finditer(r"(?:\b[\w.]*\.)?(\w+)\(", line)
                         if m.group(1) in drawing and not line.lstrip().startswith("return"))
        if calls or cell.get("metadata", {}).get("mystnb", {}).get("figure"):
            found.append((index, cell, calls))
    return found


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_walkthrough_figure_has_a_caption_name_and_alt_text(chapter):
    notebook = json.loads((REPO / "book" / chapter / f"{chapter}.ipynb").read_text("utf-8"))
    cells = figure_cells(notebook)
    assert cells, f"{chapter}: expected figures in the walkthrough, found none"
    for index, cell, calls in cells:
        options = cell.get("metadata", {}).get("mystnb", {})
        figure, image = options.get("figure", {}), options.get("image", {})
        where = f"{chapter}.ipynb cell {index}"
        assert calls == 1, (f"{where}: expected exactly one figure per captioned cell (one "
                            f"caption, one name), got {calls}")
        assert "display(" not in _source(cell), (
            f"{where}: expected no other output in a figure cell (myst-nb would wrap it "
            "in the same figure)")
        assert figure.get("caption", "").strip(), f"{where}: expected a figure caption"
        assert re.fullmatch(rf"fig-{chapter}-[a-z0-9-]+", figure.get("name", "")), (
            f"{where}: expected a name fig-{chapter}-…, got {figure.get('name')!r}")
        alt = image.get("alt", "")
        assert len(alt.split()) >= 8 and not re.search(r"\.(png|svg|jpe?g)\b|_build", alt), (
            f"{where}: expected an alt text that describes the figure, got {alt!r}")


def test_figure_names_are_unique_across_the_book():
    names = []
    for chapter in CHAPTERS:
        notebook = json.loads((REPO / "book" / chapter / f"{chapter}.ipynb").read_text("utf-8"))
        names += [c["metadata"]["mystnb"]["figure"]["name"] for c in notebook["cells"]
                  if c.get("metadata", {}).get("mystnb", {}).get("figure")]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"expected unique figure names (Sphinx labels), got {duplicates}"
