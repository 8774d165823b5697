"""Pure ``nn.Module`` models (no Lightning): the visual tokenizer and, later, the STPT world model."""
