"""`make demo`: the provenet story on a local devnet, told step by step.

Starts its own Anvil (a fresh chain on a free loopback port, state in a temporary folder, so your own
devnet is untouched), deploys the contracts and runs the licence story: the owner registers a model,
issues a licence and signs an offer; licensees load the weights through the gate; an unlicensed account,
tampered weights, an expired and a revoked licence are refused. The devnet is stopped at the end, also
on failure.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from client_sdk.accounts import load_account
from client_sdk.client import ProvenetClient
from client_sdk.devnet_lifecycle import devnet_down, devnet_up
from client_sdk.errors import LicenseRefused
from client_sdk.gate import load_licensed
from client_sdk.hashing import weights_hash
from client_sdk.types import LicenseOffer, LicenseTerms, Scope

console = Console()


def step(title: str, text: str = "") -> None:
    console.print()
    console.rule(f"[bold]{title}")
    if text:
        console.print(text)


def refused(what: str, action) -> None:
    """Run ``action`` and show the typed refusal it must raise."""
    try:
        action()
    except LicenseRefused as error:
        console.print(f"[bold red]REFUSED[/] {what}: [italic]{type(error).__name__}[/]\n  {error}")
        return
    raise SystemExit(f"demo failed: {what} was not refused")


def make_weights(path: Path) -> None:
    """A small model's weights, saved with safetensors (never pickle)."""
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(7)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def licence_story(client: ProvenetClient, keystores: Path, work: Path) -> None:
    from client_sdk.devnet_lifecycle import demo_password

    def account(name: str):
        return load_account(name, password=demo_password(), directory=keystores)

    owner, licensee1, licensee2, stranger = (account(n) for n in ("owner", "licensee1", "licensee2", "partner3"))
    weights = work / "digits-cnn.safetensors"
    make_weights(weights)
    model = weights_hash(weights)

    step(
        "1. The model owner registers the weights",
        f"weights file {weights.name}: SHA-256 {model.hex()}\n(anyone can recompute it with `sha256sum`)",
    )
    receipt = client.models.register(owner, model, metadata_uri="ipfs://provenet-demo/model-card.json")
    console.print(f"registered by {owner.address} in block {receipt['blockNumber']}")

    step("2. The owner issues a licence to licensee1", "scope: inference, valid 30 days, not transferable")
    now = client.block_timestamp()
    lic1 = client.licenses.issue(
        owner,
        licensee1.address,
        LicenseTerms(
            model=model,
            scope=Scope.INFERENCE,
            expiry=now + 30 * 86400,
            legal_uri="ipfs://provenet-demo/licence-inference.txt",
        ),
    )
    console.print(f"licence #{lic1} → {licensee1.address}")

    step(
        "3. The owner signs an offer; licensee2 redeems it and pays",
        "EIP-712 offer: inference + commercial, 0.01 ETH, for licensee2 only, valid 1 day",
    )
    offer = LicenseOffer(
        model=model,
        scope=Scope.INFERENCE | Scope.COMMERCIAL,
        nonce=1,
        deadline=now + 86400,
        price=10**16,
        licensee=licensee2.address,
    )
    signature = client.licenses.sign_offer(owner, offer)
    lic2 = client.licenses.redeem(licensee2, offer, signature)
    console.print(f"licence #{lic2} → {licensee2.address} (0.01 ETH held for the owner)")

    step("4. Licensees load the weights through the gate")
    for who, scope in ((licensee1, Scope.INFERENCE), (licensee2, Scope.INFERENCE | Scope.COMMERCIAL)):
        tensors = load_licensed(model, weights, who.address, scope, client=client)
        console.print(
            f"[bold green]LOADED[/] for {who.address} ({','.join(scope.names())}):"
            f" {len(tensors)} tensors, {sum(t.numel() for t in tensors.values())} parameters"
        )

    step("5. What the gate refuses")
    refused(
        "an account with no licence",
        lambda: load_licensed(model, weights, stranger.address, "inference", client=client),
    )
    refused(
        "licensee1 asking for commercial use",
        lambda: load_licensed(model, weights, licensee1.address, "commercial", client=client),
    )
    tampered = work / "tampered.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    tampered.write_bytes(bytes(data))
    refused(
        "tampered weights (one bit flipped)",
        lambda: load_licensed(model, tampered, licensee1.address, "inference", client=client),
    )
    refused(
        "tampered weights, looked up by their own hash",
        lambda: load_licensed(None, tampered, licensee1.address, "inference", client=client),
    )
    client.rpc.call("evm_increaseTime", [31 * 86400])
    client.rpc.call("evm_mine", [])
    refused(
        "licensee1 after 31 days (expired)",
        lambda: load_licensed(model, weights, licensee1.address, "inference", client=client),
    )
    client.licenses.revoke(owner, lic2)
    refused(
        "licensee2 after the owner revoked the licence",
        lambda: load_licensed(model, weights, licensee2.address, "inference", client=client),
    )

    table = Table("licence", "holder", "scope", "state now")
    for license_id in (lic1, lic2):
        record = client.licenses.get(license_id)
        check = client.licenses.check(model, record.holder, record.scope)
        table.add_row(f"#{license_id}", record.holder, ",".join(record.scope.names()), check.reason.name.lower())
    console.print(table)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="provenet-demo-") as tmp:
        root, work = Path(tmp) / "devnet", Path(tmp) / "work"
        work.mkdir()
        console.print(
            Panel.fit("provenet demo: licences that gate model weights, on a local Anvil devnet", style="bold blue")
        )
        try:
            from client_sdk.devnet import free_port

            info = devnet_up(engine="anvil", port=free_port(), fresh=True, root=root)
            console.print(
                f"devnet: {info.status.rpc_url} (chain {info.status.chain_id});"
                f" contracts deployed from the committed artifacts"
            )
            client = ProvenetClient(info.status.rpc_url, info.deployment)
            licence_story(client, root / "keystores", work)
        finally:
            devnet_down(root)
            console.print("\ndevnet stopped.")
    console.print(Panel.fit("demo complete", style="bold green"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
