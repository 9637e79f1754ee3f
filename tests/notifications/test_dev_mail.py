"""`crowdfund dev` mails notices to its embedded SMTP sink: DATA_DIR/mail/<Message-ID>.eml,
listed at /dev/mail; the same notice is in the app."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from uuid import uuid4

from crowdfund.mail_sink import file_name, read_message
from tests.servers import DevServer, dev_server

__all__ = ["dev_server"]  # the fixture, imported for pytest

PASSWORD = "a-long-enough-password"
SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) {
  __typename ... on AuthPayload { token user { id } } } }"""
GRANT = """mutation($email: String!, $role: Role!) { grantRole(email: $email, role: $role) {
  __typename } }"""
PROFILE = """mutation($input: InvestorProfileInput!) { submitInvestorProfile(input: $input) {
  __typename } }"""
VERIFY = "mutation($id: ID!) { verifyInvestor(userId: $id) { __typename } }"
NOTICES = "{ myNotifications { unreadCount edges { node { id kind subject body } } } }"


def sign_up(server: DevServer, name: str) -> tuple[str, str, str]:
    email = f"{name}-{uuid4().hex[:8]}@example.test"
    data = server.graphql(SIGN_UP, {"input": {"email": email, "password": PASSWORD,
                                              "displayName": name.title()}})
    result: dict[str, Any] = data["signUp"]
    return email, result["token"], result["user"]["id"]


def wait_for(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


def test_a_notice_is_in_the_app_and_in_the_dev_inbox(dev_server: DevServer) -> None:
    admin = dev_server.admin_token()
    officer_email, _, _ = sign_up(dev_server, "officer")
    assert dev_server.graphql(GRANT, {"email": officer_email, "role": "RISK_OFFICER"},
                              admin)["grantRole"]["__typename"] == "RoleGranted"
    officer = dev_server.staff_token(officer_email, PASSWORD)  # staff act with TOTP on
    email, token, user_id = sign_up(dev_server, "backer")
    dev_server.graphql(PROFILE, {"input": {
        "legalName": "Dev Backer", "dateOfBirth": "1980-01-01", "country": "US",
        "annualIncome": "90000.00", "netWorth": "90000.00"}}, token)
    assert dev_server.graphql(VERIFY, {"id": user_id}, officer)["verifyInvestor"][
        "__typename"] == "InvestorProfileSaved"

    notices = wait_for(lambda: dev_server.graphql(NOTICES, token=token)["myNotifications"][
        "edges"], "the notice in the app")
    (notice,) = [e["node"] for e in notices]
    assert notice["kind"] == "KYC_VERIFIED"
    mail_dir: Path = dev_server.data_dir / "mail"
    path = mail_dir / file_name(f"<{notice['id']}@crowdfund.invalid>")
    wait_for(path.exists, "the message in DATA_DIR/mail")
    message = read_message(path)
    assert message["To"].addresses[0].addr_spec == email
    assert str(message["Subject"]).strip() == notice["subject"]
    assert notice["body"] in message.get_body(("plain",)).get_content()

    inbox = dev_server.client.get("/dev/mail")
    assert inbox.status_code == 200 and notice["subject"] in inbox.text
    one = dev_server.client.get(f"/dev/mail/{path.name}")
    assert one.status_code == 200 and "Your investor profile was verified" in one.text
    assert dev_server.client.get("/dev/mail/..%2Fevents.db").status_code == 404
