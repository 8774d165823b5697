"""Evaluation: image metrics, tokenizer and world-model evaluations."""
