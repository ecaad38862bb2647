"""Access charts for planning: the share of origins reaching each category within t minutes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mapgen.taxonomy import Taxonomy


def access_curves(nearest: pd.DataFrame, minutes: float, taxonomy: Taxonomy) -> Figure:
    """One chart per category: share of origins reaching it within t minutes, walking and cycling.

    Parameters
    ----------
    nearest
        Minutes with (mode, category) columns (``inf`` beyond the search bound), e.g. residential hexagons.
    minutes
        The time limit (the right end of the x axis, marked).
    taxonomy
        Category labels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    categories = list(nearest.columns.unique("category"))
    cols = 4
    rows = -(-len(categories) // cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    t = np.linspace(0, minutes, 61)
    styles = {"walk": "#2171b5", "bike": "#cb181d"}
    for ax, category in zip(axes, categories, strict=False):
        for mode in nearest.columns.unique("mode"):
            values = nearest[(mode, category)].to_numpy()
            share = (values[None, :] <= t[:, None]).mean(axis=1) * 100
            ax.plot(t, share, color=styles.get(mode), label=f"{mode} {share[-1]:.0f}%")
        ax.set_title(taxonomy[category].en, fontsize=9)
        ax.set_ylim(0, 100)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    for ax in axes[len(categories) :]:
        ax.set_visible(False)
    fig.supxlabel("minutes")
    fig.supylabel("% reaching the category")
    return fig
