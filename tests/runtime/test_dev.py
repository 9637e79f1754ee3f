"""`crowdfund dev` as a real process: a short flow over HTTP GraphQL, health, metrics,
graceful shutdown, and restarts on the same data dir."""

from __future__ import annotations

import re
import signal
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx

from tests.servers import (
    DevServer,
    dev_server,
    file_offering_statement,
    run_cli,
    running_dev_server,
)

__all__ = ["dev_server"]  # the fixture, imported for pytest

PASSWORD = "a-long-enough-password"

SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) {
  __typename ... on AuthPayload { token user { id } } ... on Problem { code message } } }"""
CAMPAIGN_RESULT = """__typename ... on CampaignSaved { position campaign { id status } }
  ... on Problem { code message }"""
DRAFT = (
    "mutation($input: DraftCampaignInput!) { draftCampaign(input: $input) { "
    + CAMPAIGN_RESULT + " } }"
)
STEP = "mutation($id: ID!) { %s(id: $id) { " + CAMPAIGN_RESULT + " } }"
GRANT = """mutation($email: String!, $role: Role!) { grantRole(email: $email, role: $role) {
  __typename ... on RoleGranted { position } ... on Problem { code message } } }"""
SET_CLOCK = """mutation($now: DateTime!) { setClock(now: $now) {
  __typename ... on ClockSet { now position } ... on Problem { code message } } }"""
CAUGHT_UP = "query($p: Long!) { caughtUp(position: $p, timeoutMs: 10000) }"


def sign_up(server: DevServer, name: str) -> tuple[str, str]:
    """A new account: (e-mail, token)."""
    email = f"{name}-{uuid4().hex[:8]}@example.test"
    data = server.graphql(
        SIGN_UP, {"input": {"email": email, "password": PASSWORD, "displayName": name.title()}}
    )
    assert data["signUp"]["__typename"] == "AuthPayload", data
    return email, data["signUp"]["token"]


def saved(data: dict[str, Any], field: str) -> dict[str, Any]:
    result: dict[str, Any] = data[field]
    assert result["__typename"] in ("CampaignSaved", "RoleGranted", "ClockSet"), result
    return result


def caught_up(server: DevServer, position: int) -> None:
    assert server.graphql(CAUGHT_UP, {"p": position})["caughtUp"] is True


def test_health_reports_positions_and_the_broker(dev_server: DevServer) -> None:
    body = dev_server.health()
    assert body["status"] == "ok", body
    assert re.fullmatch(r"127\.0\.0\.1:\d+", body["broker"])
    assert body["headPosition"] >= 1  # the admin from the environment was created
    assert isinstance(body["projectionsPosition"], int)


def test_a_campaign_from_draft_to_failure_over_graphql(dev_server: DevServer) -> None:
    admin = dev_server.admin_token()
    me = dev_server.graphql("{ me { email roles } }", token=admin)["me"]
    assert me["email"] == dev_server.admin_email and "ADMIN" in me["roles"]

    founder_email, founder = sign_up(dev_server, "founder")
    officer_email, _ = sign_up(dev_server, "officer")
    saved(dev_server.graphql(GRANT, {"email": officer_email, "role": "RISK_OFFICER"},
                             token=admin), "grantRole")
    officer = dev_server.staff_token(officer_email, PASSWORD)
    assert founder_email != officer_email

    deadline = datetime.now().astimezone() + timedelta(days=30)
    draft = saved(dev_server.graphql(DRAFT, {"input": {
        "title": "A bakery", "summary": "Sourdough for the neighbourhood.", "regime": "REG_CF",
        "minTarget": "1000.00", "maxTarget": "5000.00", "minPledge": "100.00",
        "pricePerShare": "10.00", "deadline": deadline.isoformat(),
    }}, token=founder), "draftCampaign")
    campaign_id = draft["campaign"]["id"]
    file_offering_statement(dev_server.base_url, founder, campaign_id, "REG_CF")
    saved(dev_server.graphql(STEP % "submitCampaign", {"id": campaign_id}, token=founder),
          "submitCampaign")
    saved(dev_server.graphql(STEP % "approveCampaign", {"id": campaign_id}, token=officer),
          "approveCampaign")
    launched = saved(dev_server.graphql(STEP % "launchCampaign", {"id": campaign_id},
                                        token=founder), "launchCampaign")
    caught_up(dev_server, launched["position"])
    read = dev_server.graphql(
        "query($id: ID!) { campaign(id: $id) { title status founder { displayName } } }",
        {"id": campaign_id},
    )["campaign"]
    assert read == {"title": "A bakery", "status": "LIVE", "founder": {"displayName": "Founder"}}

    # Only an admin may move the test clock; moving it past the deadline closes the campaign.
    refused = dev_server.graphql(SET_CLOCK, {"now": deadline.isoformat()}, token=founder)
    assert refused["setClock"]["__typename"] == "NotAllowed"
    moved = saved(dev_server.graphql(
        SET_CLOCK, {"now": (deadline + timedelta(hours=1)).isoformat()}, token=admin
    ), "setClock")
    caught_up(dev_server, moved["position"])
    status = dev_server.graphql(
        "query($id: ID!) { campaign(id: $id) { status raised } }", {"id": campaign_id}
    )["campaign"]
    assert status == {"status": "FAILED", "raised": "0.00"}

    # The auditor's view runs on crowdfund.audit: every chain verifies.
    saved(dev_server.graphql(GRANT, {"email": dev_server.admin_email, "role": "AUDITOR"},
                             token=admin), "grantRole")
    verified = dev_server.graphql(
        "{ verifyAuditChains { ok checkedEvents firstBadPosition } }", token=admin
    )["verifyAuditChains"]
    assert verified["ok"] is True and verified["firstBadPosition"] is None
    trail = dev_server.graphql(
        "query($id: ID!) { auditTrail(streamId: $id) { type version } }",
        {"id": campaign_id}, token=admin,
    )["auditTrail"]
    assert [e["type"] for e in trail][:4] == [
        "CampaignDrafted", "IssuerAssigned", "DocumentUploaded", "CampaignSubmitted"
    ]
    assert trail[-1]["type"] == "CampaignFailed"


def test_metrics_page_and_graphiql(dev_server: DevServer) -> None:
    metrics = dev_server.client.get("/metrics")
    assert metrics.status_code == 200
    assert "text/plain" in metrics.headers["content-type"]
    assert "crowdfund_http_requests_total" in metrics.text
    page = dev_server.client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    graphiql = dev_server.client.get("/graphql", headers={"Accept": "text/html"})
    assert graphiql.status_code == 200 and "graphiql" in graphiql.text.lower()


def test_sigterm_lets_an_in_flight_request_finish_then_exits_0(tmp_path: Path) -> None:
    with running_dev_server(tmp_path / "data") as server:
        answers: list[httpx.Response] = []

        def slow_request() -> None:  # caughtUp on a future position waits out its timeout
            answers.append(server.client.post("/graphql", json={
                "query": "{ caughtUp(position: 1000000000, timeoutMs: 1500) }"
            }))

        request = threading.Thread(target=slow_request)
        request.start()
        time.sleep(0.5)
        began = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(15)
        took = time.monotonic() - began
        request.join(5)
        assert code == 0, server.log_tail()
        assert took < 8, took
        assert answers and answers[0].status_code == 200
        assert answers[0].json() == {"data": {"caughtUp": False}}
        assert "crowdfund dev stopped" in server.log_tail()
        assert server.stop() == 0


def test_restart_keeps_data_tokens_and_one_demo(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    campaigns = "{ campaigns(status: LIVE) { totalCount edges { node { regime currency } } } }"
    with running_dev_server(data_dir, demo=True) as first:
        token = first.admin_token()
        live = first.graphql(campaigns)["campaigns"]
        head = first.health()["headPosition"]
        caught_up(first, head)
        live = first.graphql(campaigns)["campaigns"]
        assert live["totalCount"] == 2
        assert sorted(e["node"]["regime"] for e in live["edges"]) == ["ECSP", "REG_CF"]
        assert first.stop() == 0
    with running_dev_server(data_dir, demo=True) as second:
        assert second.health()["headPosition"] == head  # the demo was not loaded twice
        caught_up(second, head)
        assert second.graphql(campaigns)["campaigns"]["totalCount"] == 2
        # The signing key lives in the data dir: a token from the first run still works.
        me = second.graphql("{ me { email } }", token=token)["me"]
        assert me == {"email": second.admin_email}
        assert second.stop() == 0
    # What dev wrote is readable by the tools.
    verify = run_cli("audit", "verify", "--data-dir", str(data_dir))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    rebuild = run_cli("projections", "rebuild", "--data-dir", str(data_dir))
    assert rebuild.returncode == 0, rebuild.stderr
    assert f"through position {head}" in rebuild.stdout
