"""Lightning wrappers (LightningModules, DataModules, resumable training state). No model code lives here."""
