"""``python -m dashboard.serve run app.py …``: ``streamlit run`` with the heavy libraries the pages
draw with already imported, so the first visitor after a start does not wait for them (pandas and
Plotly: about half a second on a small machine, more with a cold disk). Only third-party modules
are imported here: the dashboard's own modules read settings and declare caches, which belong
to the script run."""

from __future__ import annotations

import pandas  # noqa: F401  (imported for its side effect: loaded once, before any session)
import plotly.graph_objects
from streamlit.web.cli import main


def _warm() -> None:
    """Build and serialize one figure of each kind the pages draw (Plotly loads its trace
    validators on first use)."""
    fig = plotly.graph_objects.Figure()
    fig.add_scatter(x=[0], y=[0])
    fig.add_bar(x=[0], y=[0])
    fig.add_trace(plotly.graph_objects.Heatmap(z=[[0]]))
    fig.add_hline(y=0)
    fig.to_json()


if __name__ == "__main__":
    _warm()
    main(prog_name="streamlit")
