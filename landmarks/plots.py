"""Matplotlib, headless: papers draw with ``from landmarks.plots import plt``.

The Agg backend renders to files without a display (servers, CI); ``run.save_figure`` writes
the PNGs the report embeds.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

plt.rcParams.update(
    {
        "figure.figsize": (6.4, 4.0),
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "font.size": 10,
    }
)

__all__ = ["plt"]
