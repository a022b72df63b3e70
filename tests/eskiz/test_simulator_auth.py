"""Eskiz simulator: login, refresh, the current user, invalidation and token expiry."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from notifier_eskiz.simulator import EskizSimulator
from tests.eskiz.simulator_support import login, serve


@pytest.fixture
def sim() -> Iterator[EskizSimulator]:
    with EskizSimulator(token_ttl=3600) as simulator:
        yield simulator


@pytest.fixture
def client(sim: EskizSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, timeout=5) as http:
        yield http


def _token(response: httpx.Response) -> str:
    token: str = response.json()["data"]["token"]
    return token


class TestLogin:
    def test_multipart_form(self, sim: EskizSimulator, client: httpx.Client) -> None:
        response = client.post(
            "/auth/login",
            files={"email": (None, sim.email), "password": (None, sim.password)},
        )
        assert response.status_code == 200
        body = response.json()
        assert body["message"] == "token_generated"
        assert body["token_type"] == "bearer"
        assert body["data"]["token"].count(".") == 2
        assert sim.stats.logins == 1

    def test_urlencoded_form(self, sim: EskizSimulator, client: httpx.Client) -> None:
        response = client.post("/auth/login", data={"email": sim.email, "password": sim.password})
        assert response.status_code == 200
        assert sim.stats.logins == 1

    def test_json_body(self, sim: EskizSimulator, client: httpx.Client) -> None:
        response = client.post("/auth/login", json={"email": sim.email, "password": sim.password})
        assert response.status_code == 200
        assert sim.stats.logins == 1

    def test_token_claims(self, sim: EskizSimulator, client: httpx.Client) -> None:
        response = client.post("/auth/login", data={"email": sim.email, "password": sim.password})
        claims = jwt.decode(_token(response), options={"verify_signature": False})
        header = jwt.get_unverified_header(_token(response))
        assert header["alg"] == "HS256"
        assert set(claims) == {"exp", "iat", "role", "sign", "sub"}
        assert claims["exp"] - claims["iat"] == 3600
        assert claims["role"] == "user"
        assert claims["sub"] == str(sim.account.id)
        assert len(claims["sign"]) == 64
        int(claims["sign"], 16)

    def test_trial_account_role_claim(self) -> None:
        with serve(role="test") as (sim, client):
            response = client.post(
                "/auth/login", data={"email": sim.email, "password": sim.password}
            )
            claims = jwt.decode(_token(response), options={"verify_signature": False})
        assert claims["role"] == "test"

    def test_default_lifetime_is_thirty_days(self) -> None:
        with serve() as (sim, client):
            response = client.post(
                "/auth/login", data={"email": sim.email, "password": sim.password}
            )
        claims = jwt.decode(_token(response), options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 2_592_000

    def test_wrong_password_is_401(self, sim: EskizSimulator, client: httpx.Client) -> None:
        response = client.post("/auth/login", data={"email": sim.email, "password": "wrong"})
        assert response.status_code == 401
        assert response.json() == {"status": "error", "message": "Invalid email or password"}
        assert sim.stats.logins == 0
        assert sim.stats.login_failures == 1

    def test_wrong_password_status_400_in_russian(self) -> None:
        with (
            EskizSimulator(bad_credentials_status=400) as sim,
            httpx.Client(base_url=sim.base_url) as client,
        ):
            response = client.post("/auth/login", data={"email": sim.email, "password": "wrong"})
        assert response.status_code == 400
        assert response.json()["status"] == "error"
        assert "пароль" in response.json()["message"]

    def test_missing_field_is_validation_error(
        self, sim: EskizSimulator, client: httpx.Client
    ) -> None:
        response = client.post("/auth/login", data={"email": sim.email})
        assert response.status_code == 400
        assert response.json() == {"status": "error", "message": "password is required"}

    def test_validation_status_switch(self) -> None:
        with (
            EskizSimulator(validation_status=422) as sim,
            httpx.Client(base_url=sim.base_url) as client,
        ):
            response = client.post("/auth/login", data={})
        assert response.status_code == 422

    def test_second_account(self, sim: EskizSimulator, client: httpx.Client) -> None:
        other = sim.add_account("kassa@notifier.test", "boshqa-kalit", role="test")
        response = client.post(
            "/auth/login", data={"email": "kassa@notifier.test", "password": "boshqa-kalit"}
        )
        claims = jwt.decode(_token(response), options={"verify_signature": False})
        assert claims["sub"] == str(other.id)
        assert claims["role"] == "test"


class TestProtectedCalls:
    def test_user(self, sim: EskizSimulator, client: httpx.Client) -> None:
        response = client.get("/auth/user", headers=login(client, sim))
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "success"
        assert body["id"] is None
        data = body["data"]
        assert data["email"] == sim.email
        assert data["password"] == ""
        assert data["role"] == "user"
        assert data["balance"] == sim.balance
        assert isinstance(data["balance"], int)
        assert set(data) == {
            "id",
            "created_at",
            "updated_at",
            "name",
            "email",
            "password",
            "role",
            "status",
            "is_vip",
            "balance",
        }

    def test_missing_token(self, client: httpx.Client) -> None:
        response = client.get("/auth/user")
        assert response.status_code == 401
        assert response.json() == {"status": "token-invalid", "message": "Token is invalid"}

    def test_malformed_token(self, client: httpx.Client) -> None:
        response = client.get("/auth/user", headers={"Authorization": "Bearer not-a-jwt"})
        assert response.status_code == 401
        assert response.json()["message"] == "Token is invalid"

    def test_token_of_another_simulator(self, sim: EskizSimulator, client: httpx.Client) -> None:
        with EskizSimulator() as other, httpx.Client(base_url=other.base_url) as other_client:
            foreign = login(other_client, other)
        response = client.get("/auth/user", headers=foreign)
        assert response.status_code == 401
        assert response.json()["message"] == "Token is invalid"

    def test_expiry_by_clock(self, sim: EskizSimulator, client: httpx.Client) -> None:
        headers = login(client, sim)
        sim.advance(3599)
        assert client.get("/auth/user", headers=headers).status_code == 200
        sim.advance(2)
        response = client.get("/auth/user", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"status": "token-invalid", "message": "Expired token"}

    def test_expire_tokens(self, sim: EskizSimulator, client: httpx.Client) -> None:
        old = login(client, sim)
        assert sim.expire_tokens() == 1
        assert client.get("/auth/user", headers=old).status_code == 401
        fresh = login(client, sim)
        assert client.get("/auth/user", headers=fresh).status_code == 200

    def test_custom_expired_body(self) -> None:
        body = {"status": "error", "message": "Unauthenticated."}
        with (
            EskizSimulator(expired_token_body=body) as sim,
            httpx.Client(base_url=sim.base_url) as client,
        ):
            headers = login(client, sim)
            sim.expire_tokens()
            response = client.get("/user/get-limit", headers=headers)
        assert response.status_code == 401
        assert response.json() == body


class TestRefresh:
    def test_refresh_issues_new_token(self, sim: EskizSimulator, client: httpx.Client) -> None:
        old = login(client, sim)
        response = client.patch("/auth/refresh", headers=old)
        assert response.status_code == 200
        assert response.json()["message"] == "token_generated"
        new = {"Authorization": f"Bearer {_token(response)}"}
        assert new != old
        assert sim.stats.refreshes == 1
        assert client.get("/auth/user", headers=new).status_code == 200
        # The old token stays valid until its exp by default.
        assert client.get("/auth/user", headers=old).status_code == 200

    def test_refresh_revokes_old_switch(self) -> None:
        with (
            EskizSimulator(refresh_revokes_old=True) as sim,
            httpx.Client(base_url=sim.base_url) as client,
        ):
            old = login(client, sim)
            assert client.patch("/auth/refresh", headers=old).status_code == 200
            response = client.get("/auth/user", headers=old)
        assert response.status_code == 401

    def test_expired_token_cannot_refresh(self, sim: EskizSimulator, client: httpx.Client) -> None:
        headers = login(client, sim)
        sim.expire_tokens()
        response = client.patch("/auth/refresh", headers=headers)
        assert response.status_code == 401
        assert response.json()["message"] == "Expired token"
        assert sim.stats.refreshes == 0

    def test_expired_token_refresh_switch(self) -> None:
        with (
            EskizSimulator(refresh_expired=True, token_ttl=60) as sim,
            httpx.Client(base_url=sim.base_url) as client,
        ):
            headers = login(client, sim)
            sim.advance(61)
            response = client.patch("/auth/refresh", headers=headers)
            new = {"Authorization": f"Bearer {_token(response)}"}
            assert client.get("/auth/user", headers=new).status_code == 200
        assert response.status_code == 200
        assert sim.stats.refreshes == 1

    def test_refresh_without_token(self, client: httpx.Client) -> None:
        assert client.patch("/auth/refresh").status_code == 401

    def test_refresh_by_post_is_404(self, sim: EskizSimulator, client: httpx.Client) -> None:
        assert client.post("/auth/refresh", headers=login(client, sim)).status_code == 404


class TestInvalidate:
    def test_invalidate_revokes(self, sim: EskizSimulator, client: httpx.Client) -> None:
        headers = login(client, sim)
        response = client.delete("/auth/invalidate", headers=headers)
        assert response.status_code == 200
        assert response.json() == {"message": "token_invalidated"}
        assert client.get("/auth/user", headers=headers).status_code == 401
        assert client.patch("/auth/refresh", headers=headers).status_code == 401

    def test_invalidate_switched_off(self) -> None:
        with (
            EskizSimulator(invalidate_enabled=False) as sim,
            httpx.Client(base_url=sim.base_url) as client,
        ):
            headers = login(client, sim)
            response = client.delete("/auth/invalidate", headers=headers)
            assert client.get("/auth/user", headers=headers).status_code == 200
        assert response.status_code == 404
