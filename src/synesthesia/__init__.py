"""synesthesia: multimodal generative models, any modality from any subset of the others."""

__version__ = "0.1.0"
