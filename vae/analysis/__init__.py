"""What a trained model's latent space holds: LatentModel (numpy in and out), projections, metrics, diagnostics.

Torch-free: projection, diagnostics, likelihoods, selections and disentanglement (numpy and scikit-learn);
latent, metrics and scores run the model (torch). Import the modules themselves; this file imports nothing.
"""
