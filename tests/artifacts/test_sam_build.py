"""`sam build` with neither python3.12 nor Docker, and what it builds: every handler where the
Lambda runtime looks for it, the layer's code and dependencies under python/, and nothing in the
layer that python3.12 on arm64 cannot load."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import Distribution, distributions
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml
from packaging.requirements import Requirement
from packaging.tags import Tag, parse_tag
from packaging.utils import canonicalize_name

from local.template import Template

ROOT = Path(__file__).resolve().parents[2]
SAM_VENV_BIN = ROOT / ".venv" / "sam" / "bin"
HOW_TO_GET_SAM = (
    "sam (AWS SAM CLI) is not installed: `make build` installs it into .venv/sam (requirements/sam.txt)"
)
# The Lambda Python runtimes come with the AWS SDK; the layer leaves it out.
RUNTIME_PACKAGES = {"boto3", "botocore"}
ELF_MAGIC = b"\x7fELF"
ELF_MACHINE_AARCH64 = 183
MANYLINUX_AARCH64 = re.compile(r"manylinux(2014|_2_\d+)_aarch64")


def sam_executable() -> str:
    """The pinned one `make build` installs, else any on PATH."""
    found = shutil.which("sam", path=str(SAM_VENV_BIN)) or shutil.which("sam")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail(HOW_TO_GET_SAM)
    pytest.skip(HOW_TO_GET_SAM)


def sam_environment(sam: str) -> dict[str, str]:
    # layers/core/Makefile runs `python3 -m pip`: the one beside sam has pip.
    return {
        **os.environ,
        "PATH": f"{Path(sam).parent}{os.pathsep}{os.environ['PATH']}",
        "SAM_CLI_TELEMETRY": "0",
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The template and artifacts of a fresh `sam build`, in a temporary folder."""
    sam = sam_executable()
    out = tmp_path_factory.mktemp("sam") / "build"
    command = [sam, "build", "--template-file", str(ROOT / "template.yaml"), "--base-dir", str(ROOT)]
    command += ["--build-dir", str(out), "--no-cached", "--parallel"]
    run = subprocess.run(
        command, cwd=out.parent, env=sam_environment(sam), capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, f"sam build failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    return Template(root=out, doc=cfn_yaml.load(str(out / "template.yaml")))


@pytest.fixture(scope="module")
def layer_python(built: Template) -> Path:
    layer = built.of_type("AWS::Serverless::LayerVersion")["CoreLayer"]
    return built.root / layer["Properties"]["ContentUri"] / "python"


def defines(module: Path, name: str) -> bool:
    tree = ast.parse(module.read_text())
    return any(isinstance(node, ast.FunctionDef) and node.name == name for node in tree.body)


def imported_modules(module: Path) -> Iterator[str]:
    """The absolute imports of a module, lazy ones too (relative ones stay in its package)."""
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def importable(name: str, roots: list[Path]) -> bool:
    top = name.split(".")[0]
    if top in sys.stdlib_module_names or top in RUNTIME_PACKAGES:
        return True
    for root in roots:
        base = root.joinpath(*name.split("."))
        if base.with_suffix(".py").is_file() or base.is_dir() or any(base.parent.glob(f"{base.name}.*.so")):
            return True
    return False


def test_sam_validate_lint_passes_without_aws_credentials(tmp_path: Path) -> None:
    sam = sam_executable()
    command = [sam, "validate", "--lint", "--template-file", str(ROOT / "template.yaml")]
    # Elsewhere than the repository, so samconfig.toml's region does not help it.
    run = subprocess.run(
        command, cwd=tmp_path, env=sam_environment(sam), capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"


def test_every_function_has_its_handler_module_at_the_root_of_its_own_artifact(built: Template) -> None:
    functions = Template.load(ROOT).functions()
    assert functions
    for name in functions:
        module, handler = built.handler_path(name)
        # The built template's CodeUri is the folder sam deploy zips: the module must be at its root.
        assert module.parent == built.root / name, f"{name}: CodeUri {module.parent}"
        assert module.is_file(), f"{name}: no {module.name} in its artifact"
        assert defines(module, handler), f"{name}: {module.name} defines no {handler}"


def test_every_module_the_code_imports_is_in_the_layer_the_function_or_the_runtime(
    built: Template, layer_python: Path
) -> None:
    code = [(built.handler_path(name)[0], [built.root / name, layer_python]) for name in built.functions()]
    code += [(module, [layer_python]) for module in (layer_python / "batchcalls").rglob("*.py")]
    missing = {
        f"{module.relative_to(built.root)}: {name}"
        for module, roots in code
        for name in imported_modules(module)
        if not importable(name, roots)
    }
    assert not missing, sorted(missing)


def layer_distributions(layer_python: Path) -> dict[str, Distribution]:
    return {canonicalize_name(d.metadata["Name"]): d for d in distributions(path=[str(layer_python)])}


def test_the_layer_holds_batchcalls_and_each_pinned_dependency_but_not_the_sdk(layer_python: Path) -> None:
    assert (layer_python / "batchcalls" / "__init__.py").is_file()
    installed = layer_distributions(layer_python)
    lines = (ROOT / "layers" / "core" / "requirements.txt").read_text().splitlines()
    pins = [Requirement(line.split("#")[0]) for line in lines if line.split("#")[0].strip()]
    assert pins
    for pin in pins:
        dist = installed.get(canonicalize_name(pin.name))
        assert dist is not None, f"{pin.name} is not in the layer"
        assert pin.specifier.contains(dist.version), f"{pin.name} {dist.version} is not {pin}"
    shipped_sdk = sorted(RUNTIME_PACKAGES & installed.keys())
    assert not shipped_sdk, f"the layer ships {shipped_sdk}: the runtime has its own"


def runs_on_lambda_python312_arm64(tag: Tag) -> bool:
    if tag.platform == "any":
        return tag.abi == "none"
    if not MANYLINUX_AARCH64.fullmatch(tag.platform):
        return False
    stable_abi = tag.abi == "abi3" and re.fullmatch(r"cp3([2-9]|1[0-2])", tag.interpreter) is not None
    return (tag.interpreter, tag.abi) == ("cp312", "cp312") or stable_abi


def test_every_wheel_in_the_layer_is_for_python312_on_arm64_or_pure_python(layer_python: Path) -> None:
    wrong = {}
    for name, dist in layer_distributions(layer_python).items():
        wheel = dist.read_text("WHEEL") or ""
        tags = [
            t for line in wheel.splitlines() if line.startswith("Tag:") for t in parse_tag(line[4:].strip())
        ]
        if not tags or not all(runs_on_lambda_python312_arm64(tag) for tag in tags):
            wrong[name] = [str(tag) for tag in tags]
    assert not wrong, wrong


def elf_machine(path: Path) -> int | None:
    # Two bytes of the ELF header name the CPU: less than a library for it would take.
    with path.open("rb") as file:
        header = file.read(20)
    if not header.startswith(ELF_MAGIC):
        return None
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def test_no_file_in_the_layer_is_for_another_cpu_or_python_version(layer_python: Path) -> None:
    files = [path for path in layer_python.rglob("*") if path.is_file()]
    native = [path for path in files if elf_machine(path) is not None]
    assert native  # pydantic-core at least
    other_cpu = [str(path) for path in native if elf_machine(path) != ELF_MACHINE_AARCH64]
    # Extension modules and bytecode carry their interpreter in their names (x.cpython-312-...).
    other_python = [str(p) for p in files if re.search(r"cpython-(?!312)\d+", p.name)]
    assert not other_cpu and not other_python, other_cpu + other_python
