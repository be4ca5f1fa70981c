"""Modalities: image, text, audio, video — codec, networks, likelihood and files."""
