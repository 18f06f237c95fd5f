"""Names kept from the original emb_opt; the adapters live in `emb_opt.adapters`."""
