"""Text resources: emotion taxonomies, lexicons and word vectors. Imports nothing else of emocause."""
