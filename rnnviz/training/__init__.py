"""Training: the bundled recipes (`rnnviz train`) and the in-page lab, on one loop.

- loop.py: the training loop both use (steps, lr schedule, clipping, checkpoints, stop, budgets)
  and early stopping (KeepBest)
- recipes.py: the Recipe of every bundled model; runs.py: `rnnviz train <recipe>` / `custom` end to
  end; data.py: reading the data; classifier.py, language_model.py: what each task trains and
  measures; cards.py: the model card
- lab_tasks.py: the lab's synthetic tasks; lab_model.py: its model, loss and inspection;
  lab_run.py: one lab run; lab_jobs.py: background jobs and the server-wide scheduler;
  lab_files.py: the zip download
"""
