"""Compile provenet's contracts into committed artifacts, offline.

Usage::

    python contracts/compile.py          # write contracts/artifacts/ and the SDK's packaged copies
    python contracts/compile.py --check  # recompile in memory; exit 1 if anything committed differs

One compile step drives py-solc-x's ``compile_standard``. The solc binary is, in order: ``$SOLC_BINARY``;
a native ``solc`` on PATH that reports the pinned version; else ``devnet/bin/solc``, our executable that
answers ``--version`` and ``--standard-json`` through the pinned solc-js (npm ``solc``), so nothing is
downloaded. Settings are fixed (evmVersion shanghai, optimizer on, 200 runs) so that one bytecode deploys
on Anvil and on Ganache 7.9, and so that recompiling reproduces the committed bytes.

Outputs:

- ``contracts/artifacts/<Name>.json``: ``contractName``, ``sourceName``, ``abi``, ``bytecode``,
  ``deployedBytecode``, ``compiler`` (version and settings);
- ``contracts/artifacts/build-info/provenet.json``: the standard-JSON input and the compiler output;
- ``client_sdk/artifacts/<Name>.json``: ``abi`` and ``bytecode`` only, packaged with the SDK so that a
  licensee needs no compiler;
- ``client_sdk/contract_errors.py``: one Python exception class per custom error of every contract.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import solcx

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "contracts" / "src"
ARTIFACTS = ROOT / "contracts" / "artifacts"
SDK_ARTIFACTS = ROOT / "client_sdk" / "artifacts"
ERRORS_MODULE = ROOT / "client_sdk" / "contract_errors.py"
NODE_MODULES = ROOT / "devnet" / "node_modules"
SOLC_VERSION = "0.8.28"
DEPLOYABLE = ("ModelRegistry", "LicenseRegistry", "WatermarkRegistry", "FederationLog")
SETTINGS = {
    "evmVersion": "shanghai",
    "optimizer": {"enabled": True, "runs": 200},
    "metadata": {"bytecodeHash": "ipfs"},
    "remappings": ["@openzeppelin/contracts/=@openzeppelin/contracts/"],
    "outputSelection": {
        "*": {
            "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata", "devdoc", "userdoc"],
        }
    },
}


def solc_binary() -> str:
    """Path of the solc to drive: $SOLC_BINARY, a native solc of the pinned version, else our solc-js wrapper."""
    if os.environ.get("SOLC_BINARY"):
        return os.environ["SOLC_BINARY"]
    native = shutil.which("solc")
    if native:
        answer = subprocess.run([native, "--version"], capture_output=True, text=True, check=False).stdout
        if f"Version: {SOLC_VERSION}+" in answer:
            return native
    return str(ROOT / "devnet" / "bin" / "solc")


def standard_input() -> dict:
    """The standard-JSON input: every source under contracts/src, by its path relative to contracts/."""
    sources = {
        path.relative_to(SRC.parent).as_posix(): {"content": path.read_text(encoding="utf-8")}
        for path in sorted(SRC.rglob("*.sol"))
    }
    return {"language": "Solidity", "sources": sources, "settings": SETTINGS}


def compile_all() -> tuple[dict, dict, str]:
    """Run the compiler; returns (input, output, version). Raises SystemExit on compiler errors."""
    if not (NODE_MODULES / "@openzeppelin" / "contracts").is_dir():
        raise SystemExit("OpenZeppelin is missing: run `npm ci --prefix devnet` first")
    binary = solc_binary()
    data = standard_input()
    try:
        output = solcx.compile_standard(
            data, solc_binary=binary, base_path=str(ROOT / "contracts"), allow_paths=[str(NODE_MODULES)]
        )
    except solcx.exceptions.SolcError as error:
        # The exception text carries the whole compiler output; show only the diagnostics.
        try:
            diagnostics = json.loads(error.stdout_data).get("errors", [])
            detail = "\n".join(d["formattedMessage"] for d in diagnostics if d.get("severity") == "error")
        except (ValueError, AttributeError):
            detail = str(error)[:4000]
        raise SystemExit(f"compilation failed:\n{detail}") from error
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    version = version.strip().splitlines()[-1].removeprefix("Version: ")
    return data, output, version


def render(data: dict, output: dict, version: str) -> dict[Path, str]:
    """Every file this step writes, by path, with its exact text."""
    files: dict[Path, str] = {}
    errors: dict[str, dict] = {}
    for source_name, contracts in sorted(output["contracts"].items()):
        for name, compiled in sorted(contracts.items()):
            docs = compiled.get("devdoc", {}).get("errors", {})
            for item in compiled["abi"]:
                if item["type"] == "error":
                    signature = f"{item['name']}({','.join(a['type'] for a in item['inputs'])})"
                    doc = docs.get(signature, [{}])[0].get("details", "")
                    if signature not in errors or (doc and not errors[signature]["doc"]):
                        errors[signature] = {"item": item, "doc": doc, "contract": name}
            if not source_name.startswith("src/") or name not in DEPLOYABLE:
                continue
            artifact = {
                "contractName": name,
                "sourceName": source_name,
                "abi": compiled["abi"],
                "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                "compiler": {"version": version, "settings": SETTINGS},
                "devdoc": compiled.get("devdoc", {}),
                "userdoc": compiled.get("userdoc", {}),
            }
            files[ARTIFACTS / f"{name}.json"] = json.dumps(artifact, indent=2, sort_keys=True) + "\n"
            packaged = {"contractName": name, "abi": compiled["abi"], "bytecode": artifact["bytecode"]}
            files[SDK_ARTIFACTS / f"{name}.json"] = json.dumps(packaged, indent=1, sort_keys=True) + "\n"
    build_info = {"solcVersion": version, "input": data, "output": output}
    files[ARTIFACTS / "build-info" / "provenet.json"] = json.dumps(build_info, sort_keys=True) + "\n"
    files[ERRORS_MODULE] = render_errors(errors)
    return files


def _snake(name: str) -> str:
    out = []
    for i, char in enumerate(name):
        if char.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def render_errors(errors: dict[str, dict]) -> str:
    """Python source: one ContractRevert subclass per custom error (ours and OpenZeppelin's), and a table."""
    lines = [
        '"""Typed Python exceptions for every custom error of provenet\'s contracts.',
        "",
        "Generated by ``contracts/compile.py`` from the ABIs; do not edit. CI fails when it is stale.",
        "Decoded arguments are attributes in snake_case (``error.license_id``) and ``error.args`` by name.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Any",
        "",
        "from client_sdk.errors import ContractRevert",
        "",
        "",
        "class GeneratedRevert(ContractRevert):",
        '    """Base of the generated classes: the ABI signature, and arguments as attributes."""',
        "",
        '    contract_name: str = ""',
        '    error_signature: str = ""',
        "    fields: tuple[str, ...] = ()",
        "",
        "    def __getattr__(self, name: str) -> Any:",
        '        decoded = self.__dict__.get("args_by_name", {})',
        "        if name in decoded:",
        "            return decoded[name]",
        "        raise AttributeError(name)",
    ]
    by_name: dict[str, str] = {}
    for signature in sorted(errors, key=lambda sig: (errors[sig]["contract"], sig)):
        entry = errors[signature]
        name = entry["item"]["name"]
        if name in by_name:
            continue
        by_name[name] = signature
        fields = tuple(_snake(arg["name"]) for arg in entry["item"]["inputs"])
        doc = entry["doc"].rstrip(".")
        lines += [
            "",
            "",
            f"class {name}(GeneratedRevert):",
            f'    """``{signature}``{": " + doc if doc else ""}."""',
            "",
            f'    contract_name = "{entry["contract"]}"',
            f'    error_signature = "{signature}"',
            f"    fields = {fields!r}",
            f"    hint = {doc!r}",
        ]
    lines += ["", "", "ERRORS_BY_SIGNATURE: dict[str, type[GeneratedRevert]] = {"]
    lines += [f'    "{signature}": {name},' for name, signature in sorted(by_name.items())]
    lines += ["}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if committed artifacts differ from a recompile")
    args = parser.parse_args(argv)
    data, output, version = compile_all()
    files = render(data, output, version)
    if args.check:
        stale = [p for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        extra = [p for p in ARTIFACTS.rglob("*.json") if p not in files]
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)} differs from a fresh compile", file=sys.stderr)
        for path in extra:
            print(f"extra: {path.relative_to(ROOT)} is not produced by the sources", file=sys.stderr)
        if stale or extra:
            print("run `python contracts/compile.py` and commit the result", file=sys.stderr)
            return 1
        print(f"artifacts match the sources ({len(files)} files, solc {version})")
        return 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files with solc {version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
