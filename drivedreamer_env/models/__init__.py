"""Pure ``nn.Module`` models and their decoding (no Lightning, no simulator): the visual tokenizer, the STPT world
model, training masks, the MaskGIT sampler, ego-motion reprojection and warp proposals, checkpoints."""
