"""Reading and writing model files: checkpoints, foreign formats, exports."""
