"""The app without the prediction chart above the heatmaps: what that chart costs a sentence
(bench/ab_pages.py)."""

from rnnviz.app import page
from rnnviz.app.views import heatmaps

heatmaps.prediction_panel = lambda *args, **kwargs: None
page.main()
