from __future__ import annotations

from pathlib import Path

import pytest

from emocause.settings import data_root

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def real_root() -> Path:
    """The shared data root; tests on real files skip where a machine does not have it."""
    root = data_root()
    if not (root / "empathetic_dialogues").is_dir():
        pytest.skip(f"real datasets not found under {root} (set EMOCAUSE_DATA)")
    return root
