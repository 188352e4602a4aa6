"""Training: one loop (`loop.fit`) and, per method, a recipe that turns a dataset into its examples."""
