"""Every Plotly figure rnnviz draws, and nothing else: recorded arrays in, figures (or escaped HTML) out.

look: the shared plain look and colour scales; heatmaps: quantities over tokens × units; charts:
predictions, timelines, comparisons, trajectories; lecture: the cell diagram; gradients, corpus, lab:
the charts of those views.
"""

from rnnviz.core.quantities import LABELS, SIGMOID_GATES, SYMBOLS, TANH_QUANTITIES
from rnnviz.display import UNKNOWN_MARK, readable_number, token_labels, token_text
from rnnviz.figures.charts import (
    class_probability_figure,
    comparison_figure,
    step_prediction_figure,
    trajectory_figure,
    unit_timeline,
)
from rnnviz.figures.heatmaps import (
    CELL_TEXT_MAX_COLUMNS,
    GRID_GAP_COLUMNS,
    NEXT_TOKENS_GROUP,
    PREDICTIONS_GROUP,
    ClassPredictions,
    NextTokens,
    clicked_cell,
    coloured_tokens_html,
    difference_heatmap,
    grid_arrangement,
    next_token_figure,
    quantity_grid,
    quantity_heatmap,
    shares_token_axis,
)
from rnnviz.figures.look import (
    ASSUMED_FIGURE_PX,
    PLOT_DECIMALS,
    ColourScale,
    PlainFigure,
    colour_scale,
    title_and_legend,
    with_title_and_legend,
)

__all__ = [
    "ASSUMED_FIGURE_PX",
    "CELL_TEXT_MAX_COLUMNS",
    "GRID_GAP_COLUMNS",
    "LABELS",
    "NEXT_TOKENS_GROUP",
    "PLOT_DECIMALS",
    "PREDICTIONS_GROUP",
    "SIGMOID_GATES",
    "SYMBOLS",
    "TANH_QUANTITIES",
    "UNKNOWN_MARK",
    "ClassPredictions",
    "ColourScale",
    "NextTokens",
    "PlainFigure",
    "class_probability_figure",
    "clicked_cell",
    "colour_scale",
    "coloured_tokens_html",
    "comparison_figure",
    "difference_heatmap",
    "grid_arrangement",
    "next_token_figure",
    "quantity_grid",
    "quantity_heatmap",
    "readable_number",
    "shares_token_axis",
    "step_prediction_figure",
    "title_and_legend",
    "token_labels",
    "token_text",
    "trajectory_figure",
    "unit_timeline",
    "with_title_and_legend",
]
