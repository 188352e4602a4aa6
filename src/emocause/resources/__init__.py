"""Text resources: emotion taxonomies, lexicons and word vectors. Above the base layer (errors, settings) only."""
