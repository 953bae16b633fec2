"""The package layout is the data flow: no module imports from further down it."""

import ast
import pathlib

import cmgan_tf

# docs/ARCHITECTURE.md, top to bottom. A module may import from its own rank
# and the ranks above it, never from one below.
RANKS = {
    "errors": 0,
    "checks": 0,
    "file_io": 0,
    "data": 1,
    "models": 2,
    "config": 3,
    "presets": 3,
    "training": 4,
    "retrieval": 5,
    "serving": 6,
    "reports": 6,
    "runs": 7,
    "benchmarks": 8,
}
PACKAGE = pathlib.Path(cmgan_tf.__file__).parent


def _part(module):
    """The top-level part of `cmgan_tf` a dotted module name belongs to."""
    return module.split(".")[1] if module.count(".") else None


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "cmgan_tf":
                yield from (f"cmgan_tf.{alias.name}" for alias in node.names)
            elif node.module.startswith("cmgan_tf."):
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (
                alias.name for alias in node.names if alias.name.startswith("cmgan_tf.")
            )


def test_every_part_of_the_package_has_a_place_in_the_layout():
    parts = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__")
        or (p.is_dir() and (p / "__init__.py").exists())
    }
    assert parts <= set(RANKS), f"Add to RANKS and docs: {sorted(parts - set(RANKS))}"


def test_no_module_imports_from_further_down_the_data_flow():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        own = _part(".".join(relative.parts))
        if own not in RANKS:
            continue
        for module in _imports(path):
            other = _part(module)
            if RANKS.get(other, -1) > RANKS[own]:
                violations.append(f"{'.'.join(relative.parts)} imports {module}")
    assert not violations, "\n".join(violations)
