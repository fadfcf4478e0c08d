"""A journal is bound to the accounts of its first run: per connection its platform, its location, and a keyed
hash of what names the account (never the credential itself, and unlike any other journal's hash of it)."""

from __future__ import annotations

from pathlib import Path

from migrator.commands.run import tenants
from migrator.journal import Journal, Tenant
from migrator.plan.env import ResolvedConnection

PLAN = "acme"
URL = "https://api.velpic.example/api/v2"


def velpic(key: str, url: str = URL) -> ResolvedConnection:
    return ResolvedConnection("target", "velpic", url, None, {"access_key": key})


def test_the_same_host_with_another_customers_key_is_another_account(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite", PLAN) as j:
        assert j.tenant_changes(tenants({"target": velpic("vk-customer-a")})) == []  # not bound yet
        j.bind_tenants(tenants({"target": velpic("vk-customer-a")}))
        assert j.tenant_changes(tenants({"target": velpic("vk-customer-a")})) == []
        assert j.tenant_changes(tenants({"target": velpic("vk-customer-b")})) == [
            "connection target: other credentials (another account)"
        ]
        assert j.tenant_changes(tenants({"target": velpic("vk-customer-a", URL.upper() + "/")})) == [
            "connection target: https://api.velpic.example/api/v2 then, https://api.velpic.example/API/V2 now"
        ]
        assert j.tenant_changes({"new": Tenant("velpic", URL, "x")}) == []  # a connection added later


def test_a_new_password_is_the_same_account_and_no_secret_is_kept(tmp_path: Path) -> None:
    def apit(user: str, password: str) -> dict[str, Tenant]:
        url = f"https://{user}:{password}@acme.accessplanit.example/accessplan/api/v2/"
        creds = {"username": "api-acme", "password": password}
        return tenants({"apit": ResolvedConnection("apit", "accessplanit", url, None, creds)})

    first = apit("proxyuser", "pw-one-5ecret")
    assert first["apit"].location == "https://acme.accessplanit.example/accessplan/api/v2"
    assert "5ecret" not in repr(first)
    path = tmp_path / "j.sqlite"
    with Journal.open(path, PLAN) as j:
        j.bind_tenants(first)
        assert j.tenant_changes(apit("proxyuser", "pw-two-5ecret")) == []  # a password names no account
        assert j.tenant_changes(apit("otheruser", "pw-one-5ecret")) != []
        j.bind_tenants(tenants({"target": velpic("vk-customer-a")}))
    stored = b"".join(Path(f"{path}{s}").read_bytes() for s in ("", "-wal") if Path(f"{path}{s}").exists())
    assert b"vk-customer-a" not in stored and b"5ecret" not in stored and b"api-acme" not in stored


def test_each_journal_hashes_an_account_its_own_way(tmp_path: Path) -> None:
    digests = []
    for name in ("one", "two"):
        with Journal.open(tmp_path / f"{name}.sqlite", PLAN) as j:
            j.bind_tenants(tenants({"target": velpic("vk-customer-a")}))
            digests.append(j._conn.execute("SELECT value FROM meta WHERE key = 'tenants'").fetchone()[0])
    assert digests[0] != digests[1]  # a per-journal salt: no hash to compare across journals
