"""Lower layers never import higher ones (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "emocause"
LAYERS = {
    "errors": 0, "settings": 0, "config": 0,
    "resources": 1,
    "data": 2,
    "models": 3,
    "metrics": 4,
    "training": 5, "evaluation": 5, "bench": 5,
    "pipeline": 6,
    "service": 7,
    "cli": 8,
}  # fmt: skip


def _layer(module: str) -> int:
    parts = module.split(".")
    if parts[0] != "emocause" or len(parts) == 1 or parts[1] == "__init__":
        return 0
    return LAYERS[parts[1]]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [node.module] + [
                f"{node.module}.{alias.name}" for alias in node.names if node.module == "emocause"
            ]
    return [name for name in found if name.startswith("emocause")]


def test_every_module_is_in_a_layer() -> None:
    tops = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert tops - {"__init__", "py"} <= set(LAYERS), tops - set(LAYERS)


def test_no_upward_imports() -> None:
    violations = []
    for path in PACKAGE.rglob("*.py"):
        module = "emocause." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        own = _layer(module)
        violations += [
            f"{module} (layer {own}) imports {name}" for name in _imports(path) if _layer(name) > own
        ]
    assert not violations, "\n".join(violations)
