"""Where things live: the data root and the cache folder, from the environment or an explicit option."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "EMOCAUSE_DATA"
CACHE_ENV = "EMOCAUSE_CACHE"


def _checkout_root() -> Path:
    # src/emocause/settings.py -> the checkout's top folder (meaningful for an editable install).
    return Path(__file__).resolve().parents[2]


def data_root(explicit: str | Path | None = None) -> Path:
    """The folder holding the datasets: explicit option, then $EMOCAUSE_DATA, then ../shared/data.

    The default is the `shared/data` folder beside this checkout, which is where the project's
    machines keep the read-only corpora; nothing is ever copied into the repository.
    """
    if explicit is not None:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return (_checkout_root().parent / "shared" / "data").resolve()


def cache_dir(explicit: str | Path | None = None) -> Path:
    """Folder for derived files (converted model weights, precomputed features): option, $EMOCAUSE_CACHE,
    then ~/.cache/emocause. Created on demand."""
    if explicit is not None:
        path = Path(explicit).expanduser()
    elif os.environ.get(CACHE_ENV):
        path = Path(os.environ[CACHE_ENV]).expanduser()
    else:
        path = Path.home() / ".cache" / "emocause"
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()
