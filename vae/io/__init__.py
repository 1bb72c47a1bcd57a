"""Files of models: checkpoints (safe save and load), the torch-free catalog, listing, schema and saved codes;
importers of other programs' models (PyTorch state_dicts, Keras) and exporters (web decoder, ONNX).

Import the modules themselves; this file imports nothing, so the torch-free ones stay torch-free.
"""
