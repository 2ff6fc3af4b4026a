"""The app with its sidebar left out: what the ~20 sidebar widgets cost a sentence (bench/ab_pages.py)."""

from rnnviz.app import page

page.sidebar = lambda *args, **kwargs: None
page.main()
