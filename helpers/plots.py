"""Figures every chapter uses (training curves, image grids, grouped comparison bars),
the house style every chapter's figures are drawn in, and the style of result tables.

House style (:func:`house_style`): figures at most :data:`COLUMN_WIDTH` inches wide,
drawn at :data:`DPI` so that a full-width PNG is twice the book's ~690 px column (sharp
on high-density screens), fonts of at least :data:`MIN_FONT` pt (≥ 12 px at the column
width), the Okabe–Ito colour-blind-safe palette, constrained layout (colour bars and
legends outside the axes get their room). Right and wrong are told apart by a symbol
(✓/✗) as well as by colour.
"""

from __future__ import annotations

import functools
import math
import textwrap
from typing import Callable, Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from cycler import cycler
from matplotlib.lines import Line2D

COLUMN_WIDTH = 6.9   # inches: the ~690 px book column at 100 px per inch
DPI = 200            # a COLUMN_WIDTH figure is a 1380 px PNG: 2× the column
MIN_FONT = 9         # pt; 9 pt is 12.5 px when the figure is shown at the column width
# Okabe & Ito (2008), "Color universal design": distinguishable with every common kind
# of colour blindness. Yellow is last: it is faint on white.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
           "#F0E442")
BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, BLACK, YELLOW = PALETTE
RIGHT, WRONG = GREEN, VERMILLION      # a right / wrong prediction (always with ✓ / ✗)
HIGHLIGHT = VERMILLION                # thresholds, poisoned samples, reference lines
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")  # shape as well as colour
HEAT_MAP = "inferno"                  # perceptually uniform, readable in grey too
SIGNED_MAP = "RdBu_r"                 # diverging (blue − / red +), colour-blind safe

HOUSE_RC = {
    "figure.dpi": DPI,
    "savefig.dpi": "figure",
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": MIN_FONT,
    "ytick.labelsize": MIN_FONT,
    "legend.fontsize": MIN_FONT,
    "legend.title_fontsize": MIN_FONT,
    "figure.titlesize": 11,
    "axes.prop_cycle": cycler(color=PALETTE),
    "image.cmap": HEAT_MAP,
    "grid.alpha": 0.3,
    "legend.framealpha": 0.9,
}


def house_style(draw: Callable[..., plt.Figure]) -> Callable[..., plt.Figure]:
    """Decorate a function returning a figure so that it draws in the house style.

    The rc settings (:data:`HOUSE_RC`) hold only while the figure is built; fonts, dpi
    and layout are fixed in the figure then, so the caller's settings stay untouched.
    """
    @functools.wraps(draw)
    def styled(*args, **kwargs) -> plt.Figure:
        with plt.rc_context(HOUSE_RC):
            figure = draw(*args, **kwargs)
            # The first figure of a Jupyter kernel loads the inline backend, which turns
            # interactive mode on; leaving the context must not turn it off again, or
            # the kernel would show no later figure.
            interactive = matplotlib.is_interactive()
        matplotlib.interactive(interactive)
        return figure
    styled.house_style = True
    return styled


def figure_legend(fig: plt.Figure, ncols: int | None = None, **kwargs) -> None:
    """One legend for all panels of ``fig``, below them (outside every axes, so that
    it covers no data); entries with the same label appear once."""
    entries = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if entries:
        fig.legend(entries.values(), entries.keys(), loc="outside lower center",
                   ncols=ncols or min(len(entries), 3), **kwargs)


def wrap(text: str, width: int = 14) -> str:
    """``text`` broken into lines of at most ``width`` characters (panel titles)."""
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False,
                                   break_long_words=False)) or text


@house_style
def training_curves(histories: Mapping[str, dict], title: str | None = None,
                    validation: str = "validation") -> plt.Figure:
    """Loss and accuracy per epoch for several runs: ``{run name: history from fit}``.

    One colour per run; solid lines are training, dashed lines the held-out data
    (named by ``validation``, e.g. "SVHN test") for the runs that recorded it.
    """
    if not histories:
        raise ValueError("histories is empty: pass {run name: history}.")
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(COLUMN_WIDTH, 3.0))
    validated = False
    for index, (name, history) in enumerate(histories.items()):
        colour, marker = PALETTE[index % len(PALETTE)], MARKERS[index % len(MARKERS)]
        epochs = history["epoch"]
        style = dict(color=colour, marker=marker, markersize=4)
        loss_ax.plot(epochs, history["train_loss"], label=name, **style)
        acc_ax.plot(epochs, np.asarray(history["train_acc"]) * 100, label=name, **style)
        if history.get("val_loss"):
            validated = True
            loss_ax.plot(epochs, history["val_loss"], linestyle="--", **style)
            acc_ax.plot(epochs, np.asarray(history["val_acc"]) * 100, linestyle="--",
                        **style)
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(True)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if validated:  # the line styles get legend entries only when both are drawn
        for linestyle, label in (("-", "training"), ("--", validation)):
            loss_ax.plot([], [], color=BLACK, linestyle=linestyle, label=label)
    figure_legend(fig, ncols=min(len(histories) + 2 * validated, 4))
    if title:
        fig.suptitle(title)
    return fig


def _prediction_title(prediction: int, label: int | None, name) -> tuple[str, str]:
    """The title of one predicted image and its colour: "✓ cat" when right,
    "✗ dog / true: cat" when wrong, just the prediction without a label."""
    if label is None:
        return name(prediction), BLACK
    if prediction == label:
        return f"✓ {name(prediction)}", RIGHT
    return f"✗ {name(prediction)}\ntrue: {name(label)}", WRONG


@house_style
def image_grid(images: torch.Tensor, labels: Sequence[int] | None = None,
               predictions: Sequence[int] | None = None, class_names: Sequence[str] | None = None,
               ncols: int = 8, title: str | None = None,
               row_titles: Sequence[str] | None = None) -> plt.Figure:
    """Show images (N, C, H, W) in [0, 1] in a grid of ``ncols`` columns, at most
    :data:`COLUMN_WIDTH` wide, each titled with its label or prediction.

    With ``predictions`` and ``labels``, a right prediction reads "✓ pred" (green), a
    wrong one "✗ pred / true: label" (vermillion): the symbol says it without colour.
    ``row_titles`` names the rows (e.g. clean, FGSM, PGD) on the left.
    """
    images = torch.as_tensor(images).detach().cpu()
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images: expected (N, 1|3, H, W), got {tuple(images.shape)}.")
    if len(images) == 0:
        raise ValueError("images is empty.")
    name = (lambda k: class_names[k]) if class_names else str
    nrows = math.ceil(len(images) / ncols)
    if row_titles is not None and len(row_titles) != nrows:
        raise ValueError(f"row_titles: expected {nrows} titles, got {len(row_titles)}.")
    panel = COLUMN_WIDTH / ncols
    lines = 2 if predictions is not None and labels is not None else 1
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(COLUMN_WIDTH, nrows * (panel + 0.2 * lines) + 0.3))
    for ax in axes.flat:
        ax.axis("off")
    for index, (ax, image) in enumerate(zip(axes.flat, images)):
        picture = image.permute(1, 2, 0).clamp(0, 1).numpy()
        ax.imshow(picture.squeeze(-1) if picture.shape[-1] == 1 else picture,
                  cmap="gray", vmin=0, vmax=1)
        if predictions is not None:
            label = None if labels is None else int(labels[index])
            text, colour = _prediction_title(int(predictions[index]), label, name)
            ax.set_title(text, color=colour, fontsize=MIN_FONT)
        elif labels is not None:
            ax.set_title(name(int(labels[index])), fontsize=MIN_FONT)
    for row, row_title in enumerate(row_titles or []):
        ax = axes[row, 0]  # the axis stays on for its label; ticks and frame go
        ax.axis("on")
        ax.set(xticks=[], yticks=[])
        ax.spines[:].set_visible(False)
        ax.set_ylabel(row_title)
    if title:
        fig.suptitle(title)
    return fig


@house_style
def comparison_bars(table: Mapping[str, Mapping[str, float]], ylabel: str = "accuracy (%)",
                    title: str | None = None) -> plt.Figure:
    """Grouped bars: ``{run: {metric: value}}`` → one group per run, one bar per metric.

    Values are written on top of the bars; the legend sits above the axes, clear of them.
    """
    if not table:
        raise ValueError("table is empty: pass {run: {metric: value}}.")
    runs = list(table)
    metrics = list(next(iter(table.values())))
    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 3.6))
    hatches = ("", "//", "..", "xx", "\\\\")  # fill pattern as well as colour
    for index, metric in enumerate(metrics):
        positions = np.arange(len(runs)) + (index - (len(metrics) - 1) / 2) * width
        values = [table[run][metric] for run in runs]
        bars = ax.bar(positions, values, width, label=metric,
                      hatch=hatches[index % len(hatches)], edgecolor="white")
        ax.bar_label(bars, fmt="%.1f", fontsize=MIN_FONT, padding=1,
                     rotation=90 if len(runs) * len(metrics) > 12 else 0)
    top = max(max(row.values()) for row in table.values())
    ax.set_ylim(0, top * (1.22 if len(runs) * len(metrics) > 12 else 1.12))
    if len(runs) > 4:  # slanted, long run names do not run into each other
        ax.set_xticks(np.arange(len(runs)), runs, rotation=25, ha="right",
                      rotation_mode="anchor")
    else:
        ax.set_xticks(np.arange(len(runs)), [wrap(run, 16) for run in runs])
    ax.set_ylabel(ylabel)
    ax.grid(axis="y")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(metrics),
              frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def _number(value, digits: int, signed: bool) -> str:
    """``value`` with ``digits`` significant digits in fixed notation (scientific
    only below 0.001), "—" when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if not isinstance(value, (int, float, np.number)) or isinstance(value, bool):
        return str(value)
    sign = "+" if signed else ""
    if isinstance(value, (int, np.integer)):  # counts stay whole numbers
        return f"{value:{sign}d}"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:{sign}.{digits - 1}e}"
    decimals = 0 if value == 0 else max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:{sign}.{min(decimals, digits)}f}"


def results_table(table: pd.DataFrame | pd.Series, *, percent: Sequence[str] | bool = (),
                  decimals: int | None = None, digits: int = 3, signed: bool = False,
                  caption: str | None = None):
    """The one style of the book's result tables: a pandas ``Styler`` with padded,
    right-aligned numbers and "—" where a value does not apply (NaN).

    - ``percent``: the columns holding fractions in [0, 1], shown as "12.3 %" (``True``:
      all columns);
    - ``decimals``: every other number with this many decimals (values already in %,
      accuracies), else with ``digits`` significant digits, fixed notation down to
      0.001 (``signed``: with a + for positive values).
    """
    if isinstance(table, pd.Series):
        table = table.to_frame()
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table: expected a pandas DataFrame or Series, got "
                        f"{type(table).__name__}.")
    percent = list(table.columns) if percent is True else list(percent)
    missing = [column for column in percent if column not in table.columns]
    if missing:
        raise ValueError(f"percent: columns {missing} are not in the table "
                         f"({list(table.columns)}).")

    def number(value) -> str:
        if decimals is not None and isinstance(value, (int, float, np.number)) \
                and not (isinstance(value, float) and math.isnan(value)):
            return f"{value:{'+' if signed else ''}.{decimals}f}"
        return _number(value, digits, signed)

    def share(value) -> str:
        if isinstance(value, float) and math.isnan(value):
            return "—"
        return f"{100 * value:.1f} %"

    if table.index.nlevels == table.columns.nlevels == 1 and table.index.name:
        # The index's name goes in the header's corner cell, above the row labels, which
        # pandas would otherwise leave an empty header cell (and add a row for the name).
        table = table.rename_axis(index=None, columns=table.index.name)
    styler = table.style.format(number).format(share, subset=percent)
    styler = styler.format_index(lambda value: f"{value:g}" if isinstance(value, float)
                                 else str(value))
    styler = styler.set_table_attributes('class="dataframe results"')
    styler = styler.set_table_styles([
        {"selector": "th, td", "props": "padding: 0.25em 0.75em;"},
        {"selector": "td", "props": "text-align: right; font-variant-numeric: tabular-nums;"},
        {"selector": "th", "props": "text-align: left;"},
        {"selector": "caption", "props": "caption-side: top; font-weight: bold;"},
    ])
    return styler.set_caption(caption) if caption else styler
