"""Helpers of the pages, one concern per module; never pages themselves.

They live in this subpackage, not next to the page files, because Streamlit lists every ``pages/*.py``
as a page while its pages-folder mode lasts (see shell.py).

- shell: the app's frame (page set-up, navigation); sidebar: the model sidebar on every page;
- model_access: the models in the checkpoint folder, loading (cached), the active model, warm-up;
- datasets: a model's images (cached); planes: its test codes on the latent plane (cached);
  metrics: its quality numbers (cached); caches: forget all of these after a checkpoint changes;
- model_upload: a checkpoint uploaded on the Models page; train_choices, train_progress: parts of the
  Train page; pictures: PNG pictures and downloads; latent_map (+ .js, .css): the canvas map;
- links: the view in the shareable link; text: user text made safe for Markdown; errors: plain messages.

Pages import these modules (``from pages.common import planes``), except the two helpers every page
calls everywhere, ``plain`` and ``friendly_errors``/``guarded``, which they import by name. Model work
goes through ``import vae`` only.
"""
