"""One module per view; each has `render(...)`, called by rnnviz.app.page with what it needs."""
