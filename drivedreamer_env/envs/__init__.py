"""Gymnasium environments on the learned world model (``WorldDreamerDrive-v0``)."""
