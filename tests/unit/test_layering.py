"""The package's layering, read from its source: no import cycle (function-level imports
included, so none hides behind one), no AWS SDK above the store, and a domain that imports
only itself and models."""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import batchcalls

ROOT = Path(batchcalls.__file__).parent
AWS_SDK = ("boto3", "botocore")
# Layers that speak the product's words: AWS requests are built in store/ (and aws.py) only.
ABOVE_THE_STORE = ("services", "domain", "api", "models")
RAW_CLIENTS = ("db", "sfn", "s3")
# What domain/ may not depend on: it holds rules, not I/O.
NOT_FROM_DOMAIN = ("store", "services", "api", "telephony", "outbound", "aws", "admin")


def _module_name(path: Path) -> str:
    parts = ("batchcalls", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in ROOT.rglob("*.py")}


def _imported(module: str, tree: ast.AST) -> Iterator[str]:
    """Every module ``module`` imports, at any depth of its code (``from package import name``
    counts as the submodule when ``name`` is one)."""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)


IMPORTS = {
    module: set(_imported(module, ast.parse(path.read_text(), str(path)))) for module, path in MODULES.items()
}


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def test_there_is_no_import_cycle_in_the_package() -> None:
    graph = {module: {name for name in names if name in MODULES} for module, names in IMPORTS.items()}
    cycles: list[str] = []
    while True:
        try:
            graphlib.TopologicalSorter(graph).prepare()
            break
        except graphlib.CycleError as found:
            cycle = found.args[1]
            cycles.append(" -> ".join(cycle))
            graph[cycle[0]].discard(cycle[1])  # break it, to look for the next one
    assert cycles == []


@pytest.mark.parametrize("layer", ABOVE_THE_STORE)
def test_no_layer_above_the_store_imports_the_aws_sdk(layer: str) -> None:
    offenders = {
        module: sorted(name for name in names if name.split(".")[0] in AWS_SDK)
        for module, names in IMPORTS.items()
        if _layer(module) == layer
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_only_the_context_gets_aws_clients_among_the_services() -> None:
    """services/context.py wires the stores and adapters; every other use case goes through them."""
    users = {module for module, names in IMPORTS.items() if "batchcalls.aws" in names}
    assert {module for module in users if _layer(module) in ABOVE_THE_STORE} == {
        "batchcalls.services.context"
    }


def test_no_service_or_route_reads_a_raw_aws_client_from_the_context() -> None:
    """``ctx.db``, ``ctx.sfn``, ``ctx.s3``: the stores and adapters are the way to AWS."""
    offenders = sorted(
        f"{module}:{node.lineno} ctx.{node.attr}"
        for module, path in MODULES.items()
        if _layer(module) in ABOVE_THE_STORE and module != "batchcalls.services.context"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Attribute)
        and node.attr in RAW_CLIENTS
        and isinstance(node.value, ast.Name)
        and node.value.id in ("ctx", "context")
    )
    assert offenders == []


def test_the_domain_imports_no_io_layer() -> None:
    offenders = {
        module: sorted(
            name for name in names if name.startswith("batchcalls.") and _layer(name) in NOT_FROM_DOMAIN
        )
        for module, names in IMPORTS.items()
        if _layer(module) == "domain"
    }
    assert {module: names for module, names in offenders.items() if names} == {}
