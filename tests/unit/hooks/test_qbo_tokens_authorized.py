"""The token store after ``python -m qbo_intacct.authorize_quickbooks``: a connection without refresh token."""

from __future__ import annotations

from pathlib import Path

import pytest

from qbo_intacct.hooks._qbo_tokens import QboNotAuthorisedError, QboTokenStore, TokenGrant, engine_for


def _store(db: Path, seed: str = "", clock: float = 1000.0) -> QboTokenStore:
    return QboTokenStore(
        engine=engine_for(f"sqlite:///{db}"),
        client_id="client-1",
        client_secret="client-secret",
        realm_id="9130",
        seed_refresh_token=seed,
        clock=lambda: clock,
    )


class Refresher:
    """Accepts one refresh token at a time, as Intuit does, and says which it was given."""

    def __init__(self, valid: str) -> None:
        self.valid = valid
        self.spent: list[str] = []

    def __call__(self, refresh_token: str) -> TokenGrant:
        if refresh_token != self.valid:
            raise PermissionError("invalid_grant")
        self.spent.append(refresh_token)
        self.valid = f"rotated-{len(self.spent)}"
        return TokenGrant(access_token=f"access-{len(self.spent)}", expires_in=3600, refresh_token=self.valid)


def test_without_refresh_token_or_consent_the_store_says_to_run_the_command(tmp_path: Path) -> None:
    with pytest.raises(QboNotAuthorisedError, match=r"python -m qbo_intacct\.authorize_quickbooks"):
        _store(tmp_path / "s.db").access_token(Refresher("anything"))


def test_the_consent_tokens_are_used_then_rotated_by_every_worker(tmp_path: Path) -> None:
    consent = TokenGrant(access_token="access-0", expires_in=3600, refresh_token="from-consent")
    _store(tmp_path / "s.db").save_authorized(consent)
    refresher = Refresher("from-consent")
    assert _store(tmp_path / "s.db").access_token(refresher) == "access-0"  # another worker: no refresh spent
    assert refresher.spent == []
    later = _store(tmp_path / "s.db", clock=1000.0 + 3600)  # the access token expired
    assert later.access_token(refresher) == "access-1"
    assert refresher.spent == ["from-consent"]
    assert _store(tmp_path / "s.db").stored_refresh_token() == "rotated-1"


def test_a_refresh_token_pasted_into_the_connection_later_still_wins(tmp_path: Path) -> None:
    _store(tmp_path / "s.db").save_authorized(TokenGrant("access-0", 3600, "from-consent"))
    refresher = Refresher("pasted")
    assert _store(tmp_path / "s.db", seed="pasted").access_token(refresher) == "access-1"
    assert refresher.spent == ["pasted"]


def test_consent_again_replaces_the_stored_tokens(tmp_path: Path) -> None:
    _store(tmp_path / "s.db").save_authorized(TokenGrant("access-0", 3600, "first-consent"))
    _store(tmp_path / "s.db").save_authorized(TokenGrant("access-9", 3600, "second-consent"))
    assert _store(tmp_path / "s.db").stored_refresh_token() == "second-consent"
