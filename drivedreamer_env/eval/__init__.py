"""Evaluation against the simulator and recorded clips: fidelity, controllability, text control and
counterfactual reports."""
