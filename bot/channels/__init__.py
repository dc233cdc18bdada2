"""Customer-facing channels: the web widget (static/) and request batching for the NLU."""
