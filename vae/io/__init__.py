"""Reading models saved by other programs (PyTorch state_dicts by structure, Keras files)."""
