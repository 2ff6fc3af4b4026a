"""The app with the heatmaps' click layer left out (no cell can be clicked): what that layer costs a
sentence (bench/ab_pages.py)."""

from rnnviz.app import page
from rnnviz.app.views import heatmaps

heatmaps.CLICKABLE_CELLS = 0
page.main()
