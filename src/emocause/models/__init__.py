"""Pretrained models: resolving a hub id or local folder to loaded weights (see `emocause.models.resolver`)."""
