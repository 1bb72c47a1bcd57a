"""VAE Latent Explorer: page set-up and navigation only (pages/common/shell.py); each page lives in pages/."""
from pages.common import shell

shell.run_app()
