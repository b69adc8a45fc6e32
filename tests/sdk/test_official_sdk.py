"""The official Alibaba Cloud SDK (alibabacloud-cams20200606) against cams-simulator, and
against the operator's own signer.

The SDK signs its own requests (V3 ACS3-HMAC-SHA256 by default, RPC HMAC-SHA1 with
signature_algorithm="v2", an STS token with security_token=...), so every success here
proves the simulator verifies real Alibaba signatures, and every SignatureDoesNotMatch
proves it does not accept wrong ones. State changes are checked through the admin API.

`cams-operator call --dry-run` is checked against the SDK's own parameter building and
signing helpers (test_operator_dry_run_*) for UpdateChatGroup, ListChatGroup and the four
lifecycle actions (AddChatGroup, DeleteChatGroup, AddChatGroupInviteLink,
DeleteChatGroupInviteLink), and a real `cams-operator call ListChatGroup` must list what the
SDK lists.

The lifecycle actions are also driven through the SDK against the simulator's lifecycle knobs
(CREATING without a GroupId, DELETING, an invite link made at creation and reset), and every
raw answer must survive the SDK's response model unchanged (test_lifecycle_*).

Run through tests/sdk/run.sh, which starts the simulator and sets CAMS_SIMULATOR_URL and
CAMS_OPERATOR_BIN. Each test uses its own tenant (CustSpaceId) and access key.
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import subprocess
import time
import types
import urllib.error
import urllib.parse
import urllib.request

import pytest
from alibabacloud_cams20200606 import models as cams
from alibabacloud_cams20200606.client import Client
from alibabacloud_tea_openapi.exceptions import (
    AlibabaCloudException,
    ClientException,
    ThrottlingException,
)
from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_openapi.utils import Utils, get_canonical_query_string

BUSINESS_NUMBER = "8613800001234"
MODES = ["v3", "rpc"]


# --- the simulator ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def base_url() -> str:
    url = os.environ.get("CAMS_SIMULATOR_URL")
    if not url:
        pytest.fail("CAMS_SIMULATOR_URL is not set: run tests/sdk/run.sh")
    return url.rstrip("/")


def admin(base_url: str, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base_url}/admin/{path}", data=data, method=method)
    req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        raise AssertionError(f"admin {method} {path}: HTTP {e.code} {e.read()!r}") from e


class Tenant:
    """A tenant of its own: a CustSpaceId, an access key and helpers around them."""

    def __init__(self, base_url: str, name: str):
        self.base_url = base_url
        self.cust_space_id = name
        self.access_key_id = f"AK-{name}"
        self.secret = secrets.token_urlsafe(18)

    def add_key(self, tokens=None):
        admin(
            self.base_url,
            "PUT",
            f"access-keys/{urllib.parse.quote(self.access_key_id)}",
            {"accessKeySecret": self.secret, "securityTokens": tokens or []},
        )

    def seed(self, group_id: str, **fields):
        group = {
            "custSpaceId": self.cust_space_id,
            "businessNumber": fields.pop("businessNumber", BUSINESS_NUMBER),
            "groupId": group_id,
            **fields,
        }
        return admin(self.base_url, "POST", "groups", group)["groups"][0]

    def group(self, group_id: str, business_number: str = BUSINESS_NUMBER):
        return admin(
            self.base_url,
            "GET",
            f"groups/{self.cust_space_id}/{business_number}/{group_id}",
        )

    def calls(self):
        q = urllib.parse.urlencode({"custSpaceId": self.cust_space_id})
        return admin(self.base_url, "GET", f"calls?{q}")["calls"]

    def client(self, mode: str, secret: str | None = None, token: str | None = None) -> Client:
        config = Config(
            access_key_id=self.access_key_id,
            access_key_secret=secret if secret is not None else self.secret,
            endpoint=urllib.parse.urlparse(self.base_url).netloc,
            protocol="http",
            read_timeout=10000,
            connect_timeout=5000,
        )
        if mode == "rpc":
            config.signature_algorithm = "v2"
        if token is not None:
            config.security_token = token
        return Client(config)


@pytest.fixture
def tenant(base_url: str, request) -> Tenant:
    name = re.sub(r"[^A-Za-z0-9-]+", "-", request.node.name).strip("-").lower()
    t = Tenant(base_url, f"sdk-{name[:40]}-{secrets.token_hex(4)}")
    t.add_key()
    return t


def expect_code(exc_info, code: str, status: int = 400):
    err = exc_info.value
    assert isinstance(err, AlibabaCloudException), repr(err)
    assert err.code == code, f"{err.code}: {err.message}"
    assert err.status_code == status, err.status_code
    assert err.data["Code"] == code
    assert err.data["Success"] is False
    assert re.fullmatch(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}", err.request_id)
    return err


# Characters that exercise the encoders: the SDK puts "+" for spaces on the wire and signs "%20".
SUBJECT = "VIP support & sales 100% ~ *+ üñí 中文"
DESCRIPTION = "Priority line: a=b&c=d / ok? yes!"


# --- UpdateChatGroup --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_update_chat_group(tenant: Tenant, mode: str):
    tenant.seed("G1", subject="Old subject", description="Old description")
    resp = tenant.client(mode).update_chat_group(
        cams.UpdateChatGroupRequest(
            business_number=BUSINESS_NUMBER,
            cust_space_id=tenant.cust_space_id,
            group_id="G1",
            channel_type="WHATSAPP",
            subject=SUBJECT,
            description=DESCRIPTION,
            profile_picture_file="https://cdn.example.com/groups/vip.JPG",
        )
    )
    assert resp.status_code == 200
    assert resp.body.code == "OK"
    assert resp.body.success is True
    assert resp.body.result == 1
    assert "date" in {k.lower() for k in resp.headers}

    g = tenant.group("G1")
    assert g["subject"] == SUBJECT
    assert g["description"] == DESCRIPTION
    assert g["profilePictureFile"] == "https://cdn.example.com/groups/vip.JPG"

    (call,) = tenant.calls()
    assert call["action"] == "UpdateChatGroup"
    assert call["code"] == "OK"
    assert call["status"] == 200
    assert call["accessKeyId"] == tenant.access_key_id
    assert call["signatureScheme"] == mode
    assert call["securityToken"] is False
    assert call["userAgent"].startswith("AlibabaCloud")
    assert call["params"]["Subject"] == SUBJECT


@pytest.mark.parametrize("mode", MODES)
def test_update_sends_only_the_given_fields(tenant: Tenant, mode: str):
    tenant.seed("G1", subject="Keep me", description="Old description")
    tenant.client(mode).update_chat_group(
        cams.UpdateChatGroupRequest(
            business_number=BUSINESS_NUMBER,
            cust_space_id=tenant.cust_space_id,
            group_id="G1",
            description="",
        )
    )
    g = tenant.group("G1")
    assert g["subject"] == "Keep me"
    assert g["description"] == ""


# --- ListChatGroup ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_list_chat_group(tenant: Tenant, mode: str):
    for i, status in enumerate(["ACTIVE", "ACTIVE", "INACTIVE"]):
        tenant.seed(f"G{i}", subject=f"Group {i} & co", groupStatus=status, participants=["1"] * i)
    tenant.seed("OTHER", businessNumber="8613900000000", subject="Other number")
    client = tenant.client(mode)

    def page(index: int, size: int, **filters):
        return client.list_chat_group(
            cams.ListChatGroupRequest(
                business_number=BUSINESS_NUMBER,
                cust_space_id=tenant.cust_space_id,
                page=cams.ListChatGroupRequestPage(index=index, size=size),
                **filters,
            )
        ).body

    body = page(1, 2)
    assert body.code == "OK"
    assert body.data.total == 3
    assert [g.group_id for g in body.data.list] == ["G0", "G1"]
    first = body.data.list[0]
    assert first.subject == "Group 0 & co"
    assert first.business_number == BUSINESS_NUMBER
    assert first.group_status == "ACTIVE"
    assert first.total_participant_count == 0
    assert isinstance(first.gmt_modifier, int)
    assert body.data.list[1].total_participant_count == 1

    body = page(2, 2)
    assert [g.group_id for g in body.data.list] == ["G2"]
    assert page(1, 20, group_status="INACTIVE").data.total == 1
    assert page(1, 20, subject="Group 1").data.total == 1

    calls = tenant.calls()
    assert {c["action"] for c in calls} == {"ListChatGroup"}
    # The simulator verified every signature; the SDK's Page model is one JSON parameter.
    assert all(c["signatureScheme"] == mode and c["code"] == "OK" for c in calls)
    assert calls[0]["params"]["Page"] == '{"Index":1,"Size":2}'


# --- STS --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_sts_token(tenant: Tenant, mode: str):
    token = "CAIS" + secrets.token_urlsafe(24)
    tenant.add_key(tokens=[token])
    tenant.seed("G1", subject="Old")

    client = tenant.client(mode, token=token)
    resp = client.update_chat_group(
        cams.UpdateChatGroupRequest(
            business_number=BUSINESS_NUMBER,
            cust_space_id=tenant.cust_space_id,
            group_id="G1",
            subject="Changed with STS",
        )
    )
    assert resp.body.code == "OK"
    assert tenant.group("G1")["subject"] == "Changed with STS"
    listed = client.list_chat_group(
        cams.ListChatGroupRequest(
            business_number=BUSINESS_NUMBER,
            cust_space_id=tenant.cust_space_id,
            page=cams.ListChatGroupRequestPage(index=1, size=20),
        )
    )
    assert listed.body.data.list[0].subject == "Changed with STS"
    assert all(c["securityToken"] is True and c["code"] == "OK" for c in tenant.calls())

    # The key requires its token.
    with pytest.raises(ClientException) as exc:
        tenant.client(mode).update_chat_group(
            cams.UpdateChatGroupRequest(
                business_number=BUSINESS_NUMBER,
                cust_space_id=tenant.cust_space_id,
                group_id="G1",
                subject="no token",
            )
        )
    expect_code(exc, "InvalidSecurityToken.MismatchWithAccessKey")
    assert tenant.group("G1")["subject"] == "Changed with STS"


# --- wrong secret -----------------------------------------------------------------------------


@pytest.mark.parametrize("with_token", [False, True], ids=["ak", "sts"])
@pytest.mark.parametrize("mode", MODES)
def test_wrong_secret_is_signature_does_not_match(tenant: Tenant, mode: str, with_token: bool):
    token = "CAIS" + secrets.token_urlsafe(24) if with_token else None
    if token:
        tenant.add_key(tokens=[token])
    tenant.seed("G1", subject="Untouched")
    client = tenant.client(mode, secret=tenant.secret + "x", token=token)
    with pytest.raises(ClientException) as exc:
        client.update_chat_group(
            cams.UpdateChatGroupRequest(
                business_number=BUSINESS_NUMBER,
                cust_space_id=tenant.cust_space_id,
                group_id="G1",
                subject="Should not apply",
            )
        )
    err = expect_code(exc, "SignatureDoesNotMatch")
    message = err.data["Message"]
    assert message.startswith(
        "Specified signature does not match our calculation. server string to sign is:"
    )
    if mode == "rpc":
        assert "is:POST&%2F&AccessKeyId%3D" in message
        if token:
            # The gateway's echo includes the token (twice percent-encoded): the operator
            # must scrub it before storing the message.
            assert urllib.parse.quote(urllib.parse.quote(token, safe="~"), safe="~") in message
    else:
        assert "is:ACS3-HMAC-SHA256\n" in message
        if token:
            assert f"x-acs-security-token:{token}\n" in message
    assert tenant.group("G1")["subject"] == "Untouched"
    (call,) = tenant.calls()
    assert call["code"] == "SignatureDoesNotMatch"
    assert call["signatureScheme"] == mode


def test_unknown_access_key(tenant: Tenant):
    tenant.access_key_id = "AK-never-configured-" + secrets.token_hex(4)
    with pytest.raises(ClientException) as exc:
        tenant.client("v3").list_chat_group(
            cams.ListChatGroupRequest(
                business_number=BUSINESS_NUMBER,
                cust_space_id=tenant.cust_space_id,
                page=cams.ListChatGroupRequestPage(index=1, size=20),
            )
        )
    expect_code(exc, "InvalidAccessKeyId.NotFound", status=404)


# --- the other group actions and validation codes ---------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_other_group_actions(tenant: Tenant, mode: str):
    client = tenant.client(mode)
    ids = dict(business_number=BUSINESS_NUMBER, cust_space_id=tenant.cust_space_id)

    added = client.add_chat_group(cams.AddChatGroupRequest(subject="Created by the SDK", **ids))
    assert added.body.code == "OK"
    groups = admin(tenant.base_url, "GET", f"groups?custSpaceId={tenant.cust_space_id}")["groups"]
    (g,) = groups
    assert g["uniqueCode"] == added.body.unique_code
    gid = g["groupId"]
    ids["group_id"] = gid

    link = client.add_chat_group_invite_link(cams.AddChatGroupInviteLinkRequest(**ids)).body
    assert link.invite_link.startswith("https://chat.whatsapp.com/")
    assert tenant.group(gid)["inviteLink"] == link.invite_link
    assert client.delete_chat_group_invite_link(cams.DeleteChatGroupInviteLinkRequest(**ids)).body.result == 1
    assert tenant.group(gid)["inviteLink"] is None

    tenant.seed(gid, subject="With people", participants=["861", "862", "863"])
    people = client.list_chat_group_participants(
        cams.ListChatGroupParticipantsRequest(
            page=cams.ListChatGroupParticipantsRequestPage(index=1, size=2), **ids
        )
    ).body
    assert people.data.total == 3
    assert [p.participant_number for p in people.data.list] == ["861", "862"]
    removed = client.delete_chat_group_participants(
        cams.DeleteChatGroupParticipantsRequest(
            list=[
                cams.DeleteChatGroupParticipantsRequestList(participant_number="861"),
                cams.DeleteChatGroupParticipantsRequestList(participant_number="863"),
            ],
            **ids,
        )
    ).body
    assert removed.result == 2
    assert tenant.group(gid)["participants"] == ["862"]

    assert client.delete_chat_group(cams.DeleteChatGroupRequest(**ids)).body.result == 1
    assert admin(tenant.base_url, "GET", f"groups?custSpaceId={tenant.cust_space_id}")["count"] == 0
    assert {c["code"] for c in tenant.calls()} == {"OK"}


# --- the lifecycle actions and knobs, answers read through the SDK's models ----------------------


def strip_nulls(value):
    """A raw answer as the SDK's models keep it: fields that are null are left out."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


class RawAnswers:
    """Keeps the raw body of every answer a client gets (its call_api wrapped), so that the
    SDK's response models can be checked to lose nothing of it."""

    def __init__(self, client: Client):
        self.bodies = []
        original = client.call_api

        def capture(params, req, runtime):
            result = original(params, req, runtime)
            self.bodies.append(copy.deepcopy(result["body"]))
            return result

        client.call_api = capture

    def read_by(self, body, keys=None) -> dict:
        """The last raw answer equals `body` (its SDK model) turned back into a map: every
        field the simulator sent is one of the model's, with the same name and value."""
        raw = self.bodies[-1]
        assert body.to_map() == strip_nulls(raw), raw
        if keys is not None:
            assert set(raw) == keys, raw
        return raw


ENVELOPE_KEYS = {"RequestId", "Code", "Message", "Success"}
REQUEST_ID = r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}"


def wait_for(read, done, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"{what}: still {value!r}"
        time.sleep(0.05)


@pytest.mark.parametrize("mode", MODES)
def test_lifecycle_answers_match_the_sdk_models(tenant: Tenant, mode: str):
    admin(
        tenant.base_url,
        "PUT",
        f"realism/tenants/{tenant.cust_space_id}",
        {"createDelayMs": 400, "deleteDelayMs": 400, "inviteLinkAtCreation": True},
    )
    client = tenant.client(mode)
    raw = RawAnswers(client)
    ids = dict(business_number=BUSINESS_NUMBER, cust_space_id=tenant.cust_space_id)

    added = client.add_chat_group(
        cams.AddChatGroupRequest(channel_type="WHATSAPP", subject=SUBJECT, description=DESCRIPTION, **ids)
    ).body
    raw.read_by(added, ENVELOPE_KEYS | {"UniqueCode"})
    assert added.code == "OK" and added.success is True and added.message == "SUCCESS"
    assert re.fullmatch(REQUEST_ID, added.request_id)
    assert isinstance(added.unique_code, str) and added.unique_code

    def row():
        body = client.list_chat_group(
            cams.ListChatGroupRequest(page=cams.ListChatGroupRequestPage(index=1, size=100), **ids)
        ).body
        raw.read_by(body)
        rows = [g for g in body.data.list if g.subject == SUBJECT]
        assert len(rows) <= 1, rows
        return rows[0] if rows else None

    # CREATING, without a GroupId (hidden by default), with the link made at creation.
    creating = row()
    assert creating.group_status == "CREATING"
    assert creating.group_id is None
    assert creating.description == DESCRIPTION
    assert "GroupId" in raw.bodies[-1]["Data"]["List"][0], "listed as null, not left out"
    first_link = creating.invite_link
    assert first_link.startswith("https://chat.whatsapp.com/")
    active = wait_for(row, lambda r: r.group_status != "CREATING", "creation")
    assert active.group_status == "ACTIVE"
    gid = active.group_id
    assert gid
    (stored,) = admin(tenant.base_url, "GET", f"groups?custSpaceId={tenant.cust_space_id}")["groups"]
    assert (stored["groupId"], stored["uniqueCode"]) == (gid, added.unique_code)
    by_id = dict(group_id=gid, **ids)

    # A new link resets the old one.
    link = client.add_chat_group_invite_link(
        cams.AddChatGroupInviteLinkRequest(channel_type="WHATSAPP", **by_id)
    ).body
    raw.read_by(link, ENVELOPE_KEYS | {"InviteLink"})
    assert link.invite_link.startswith("https://chat.whatsapp.com/")
    assert link.invite_link != first_link
    assert row().invite_link == link.invite_link
    unlinked = client.delete_chat_group_invite_link(cams.DeleteChatGroupInviteLinkRequest(**by_id)).body
    raw.read_by(unlinked, ENVELOPE_KEYS | {"Result"})
    assert unlinked.result == 1
    assert row().invite_link is None

    # DELETING (a second delete is accepted), then gone, then GroupNotExist.
    deleted = client.delete_chat_group(cams.DeleteChatGroupRequest(channel_type="WHATSAPP", **by_id)).body
    raw.read_by(deleted, ENVELOPE_KEYS | {"Result"})
    assert deleted.result == 1 and deleted.success is True
    deleting = row()
    assert (deleting.group_status, deleting.group_id) == ("DELETING", gid)
    assert client.delete_chat_group(cams.DeleteChatGroupRequest(**by_id)).body.result == 1
    wait_for(row, lambda r: r is None, "deletion")
    assert admin(tenant.base_url, "GET", f"groups?custSpaceId={tenant.cust_space_id}")["count"] == 0
    with pytest.raises(ClientException) as exc:
        client.delete_chat_group(cams.DeleteChatGroupRequest(**by_id))
    expect_code(exc, "InvalidParameter.GroupNotExist")

    calls = tenant.calls()
    assert {c["signatureScheme"] for c in calls} == {mode}
    (add_call,) = [c for c in calls if c["action"] == "AddChatGroup"]
    assert add_call["uniqueCode"] == added.unique_code
    assert add_call["params"]["Subject"] == SUBJECT


def test_lifecycle_a_failed_create_answers_ok_and_never_becomes_active(tenant: Tenant):
    admin(
        tenant.base_url,
        "PUT",
        f"realism/tenants/{tenant.cust_space_id}",
        {"createDelayMs": 200, "groupIdWhileCreating": "visible", "createFailure": {"mode": "vanish", "count": 1}},
    )
    client = tenant.client("v3")
    ids = dict(business_number=BUSINESS_NUMBER, cust_space_id=tenant.cust_space_id)
    lost = client.add_chat_group(cams.AddChatGroupRequest(subject="Never made", **ids)).body
    assert lost.code == "OK" and lost.unique_code
    kept = client.add_chat_group(cams.AddChatGroupRequest(subject="Made", **ids)).body

    def rows():
        body = client.list_chat_group(
            cams.ListChatGroupRequest(page=cams.ListChatGroupRequestPage(index=1, size=100), **ids)
        ).body
        return {g.subject: (g.group_status, g.group_id) for g in body.data.list}

    listed = rows()
    assert listed["Never made"][0] == "CREATING" and listed["Never made"][1], "visible while CREATING"
    listed = wait_for(rows, lambda r: "Never made" not in r and r["Made"][0] == "ACTIVE", "failed create")
    (stored,) = admin(tenant.base_url, "GET", f"groups?custSpaceId={tenant.cust_space_id}")["groups"]
    assert (stored["uniqueCode"], stored["groupId"]) == (kept.unique_code, listed["Made"][1])
    # A refused create makes nothing.
    with pytest.raises(ClientException) as exc:
        client.add_chat_group(cams.AddChatGroupRequest(subject="   ", **ids))
    expect_code(exc, "InvalidParameter.Subject")
    assert admin(tenant.base_url, "GET", f"groups?custSpaceId={tenant.cust_space_id}")["count"] == 1


def test_validation_codes(tenant: Tenant):
    tenant.seed("G1")
    client = tenant.client("v3")
    base = dict(business_number=BUSINESS_NUMBER, cust_space_id=tenant.cust_space_id)

    with pytest.raises(ClientException) as exc:
        client.update_chat_group(cams.UpdateChatGroupRequest(group_id="NOPE", subject="x", **base))
    expect_code(exc, "InvalidParameter.GroupNotExist")

    with pytest.raises(ClientException) as exc:
        client.update_chat_group(cams.UpdateChatGroupRequest(group_id="G1", channel_type="SMS", **base))
    expect_code(exc, "InvalidParameter.ChannelTypeNotSupport")

    with pytest.raises(ClientException) as exc:
        client.update_chat_group(
            cams.UpdateChatGroupRequest(group_id="G1", profile_picture_file="https://x.example/a.png", **base)
        )
    expect_code(exc, "InvalidParameter.ProfilePictureFile")

    with pytest.raises(ClientException) as exc:
        client.update_chat_group(cams.UpdateChatGroupRequest(group_id="G1", subject="s" * 129, **base))
    expect_code(exc, "InvalidParameter.Subject")

    with pytest.raises(ClientException) as exc:
        client.update_chat_group(cams.UpdateChatGroupRequest(group_id="G1", **{**base, "cust_space_id": None}))
    err = expect_code(exc, "MissingParameter")
    assert '"CustSpaceId"' in err.data["Message"]

    with pytest.raises(ClientException) as exc:
        client.list_chat_group(cams.ListChatGroupRequest(**base))
    expect_code(exc, "MissingParameter")

    with pytest.raises(ClientException) as exc:
        client.list_chat_group(
            cams.ListChatGroupRequest(page=cams.ListChatGroupRequestPage(index=0, size=20), **base)
        )
    expect_code(exc, "InvalidParameter.PageInvalid")


def test_throttling_carries_retry_after(tenant: Tenant):
    admin(
        tenant.base_url,
        "PUT",
        f"faults/tenants/{tenant.cust_space_id}",
        {"qps": {"rate": 0.5, "burst": 1}},
    )
    tenant.seed("G1")
    client = tenant.client("v3")
    req = cams.UpdateChatGroupRequest(
        business_number=BUSINESS_NUMBER, cust_space_id=tenant.cust_space_id, group_id="G1", subject="x"
    )
    client.update_chat_group(req)
    with pytest.raises(ThrottlingException) as exc:
        client.update_chat_group(req)
    err = expect_code(exc, "Throttling.User")
    assert err.retry_after == 2


# --- the operator's signer (cams-operator call --dry-run) against the SDK's --------------------


@pytest.fixture(scope="session")
def operator_bin() -> str:
    path = os.environ.get("CAMS_OPERATOR_BIN")
    if not path:
        pytest.fail("CAMS_OPERATOR_BIN is not set: run tests/sdk/run.sh")
    return path


def operator(operator_bin: str, args, env) -> subprocess.CompletedProcess:
    # Nothing from the environment the tests run in may change the outcome.
    return subprocess.run(
        [operator_bin, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


class _Captured(Exception):
    pass


def sdk_query(action: str, request) -> dict:
    """The query the official SDK builds for `request` (its business parameters, before
    signing): the SDK's client with call_api replaced by a capture."""
    client = Client(
        Config(access_key_id="testid", access_key_secret="testsecret", endpoint="cams.ap-southeast-1.aliyuncs.com")
    )
    captured = {}

    def capture(params, req, runtime):
        captured["action"] = params.action
        captured["query"] = dict(req.query)
        raise _Captured()

    client.call_api = capture
    method = re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()
    with pytest.raises(_Captured):
        getattr(client, method)(request)
    assert captured["action"] == action
    return captured["query"]


NONCE = "3156853299f313e23d1673dc12e1703d"
TIMESTAMP = "2025-01-01T00:00:00Z"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
FILTER_SUBJECT = "Soporte técnico 中文 & ventas"

# (action, the operator's --param values, the same request as the SDK's model)
DRY_RUN_CASES = {
    "update": (
        "UpdateChatGroup",
        {
            "BusinessNumber": BUSINESS_NUMBER,
            "CustSpaceId": "cams-test123",
            "GroupId": "EA303TEST",
            "Subject": SUBJECT,
            "Description": DESCRIPTION,
            "ProfilePictureFile": "https://example.com/img.jpg",
        },
        cams.UpdateChatGroupRequest(
            business_number=BUSINESS_NUMBER,
            cust_space_id="cams-test123",
            group_id="EA303TEST",
            subject=SUBJECT,
            description=DESCRIPTION,
            profile_picture_file="https://example.com/img.jpg",
        ),
    ),
    "list": (
        "ListChatGroup",
        {"BusinessNumber": BUSINESS_NUMBER, "CustSpaceId": "cams-test123", "Page": '{"Index":1,"Size":20}'},
        cams.ListChatGroupRequest(
            business_number=BUSINESS_NUMBER,
            cust_space_id="cams-test123",
            page=cams.ListChatGroupRequestPage(index=1, size=20),
        ),
    ),
    "list-filtered": (
        "ListChatGroup",
        {
            "BusinessNumber": BUSINESS_NUMBER,
            "CustSpaceId": "cams-test123",
            "ChannelType": "WHATSAPP",
            "GroupStatus": "ACTIVE",
            "Page": '{"Index":3,"Size":100}',
            "Subject": FILTER_SUBJECT,
        },
        cams.ListChatGroupRequest(
            business_number=BUSINESS_NUMBER,
            cust_space_id="cams-test123",
            channel_type="WHATSAPP",
            group_status="ACTIVE",
            page=cams.ListChatGroupRequestPage(index=3, size=100),
            subject=FILTER_SUBJECT,
        ),
    ),
    "add": (
        "AddChatGroup",
        {
            "BusinessNumber": BUSINESS_NUMBER,
            "CustSpaceId": "cams-test123",
            "ChannelType": "WHATSAPP",
            "Subject": SUBJECT,
            "Description": DESCRIPTION,
        },
        cams.AddChatGroupRequest(
            business_number=BUSINESS_NUMBER,
            cust_space_id="cams-test123",
            channel_type="WHATSAPP",
            subject=SUBJECT,
            description=DESCRIPTION,
        ),
    ),
    "delete": (
        "DeleteChatGroup",
        {"BusinessNumber": BUSINESS_NUMBER, "CustSpaceId": "cams-test123", "GroupId": "EA303TEST"},
        cams.DeleteChatGroupRequest(
            business_number=BUSINESS_NUMBER, cust_space_id="cams-test123", group_id="EA303TEST"
        ),
    ),
    "add-invite-link": (
        "AddChatGroupInviteLink",
        {
            "BusinessNumber": BUSINESS_NUMBER,
            "CustSpaceId": "cams-test123",
            "GroupId": "EA303TEST",
            "ChannelType": "WHATSAPP",
        },
        cams.AddChatGroupInviteLinkRequest(
            business_number=BUSINESS_NUMBER,
            cust_space_id="cams-test123",
            group_id="EA303TEST",
            channel_type="WHATSAPP",
        ),
    ),
    "delete-invite-link": (
        "DeleteChatGroupInviteLink",
        {"BusinessNumber": BUSINESS_NUMBER, "CustSpaceId": "cams-test123", "GroupId": "EA303TEST"},
        cams.DeleteChatGroupInviteLinkRequest(
            business_number=BUSINESS_NUMBER, cust_space_id="cams-test123", group_id="EA303TEST"
        ),
    ),
}


def dry_run(operator_bin: str, action: str, params: dict, mode: str, token: str | None) -> dict:
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "testid", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "testsecret"}
    if token:
        env["ALIBABA_CLOUD_SECURITY_TOKEN"] = token
    args = ["call", action, "--dry-run", "--nonce", NONCE, "--timestamp", TIMESTAMP]
    args += ["--signature", "v3" if mode == "v3" else "v1"]
    for key, value in params.items():
        args += ["--param", f"{key}={value}"]
    out = operator(operator_bin, args, env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def split_url(url: str):
    base, _, query = url.partition("?")
    pairs = [p.split("=", 1) for p in query.split("&")] if query else []
    # The operator encodes spaces as %20, never "+": unquote, not unquote_plus.
    return base, query, {urllib.parse.unquote(k): urllib.parse.unquote(v) for k, v in pairs}


@pytest.mark.parametrize("with_token", [False, True], ids=["ak", "sts"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(DRY_RUN_CASES))
def test_operator_dry_run_matches_the_sdk(operator_bin: str, case: str, mode: str, with_token: bool):
    action, params, model = DRY_RUN_CASES[case]
    token = "CAIS" + "x" * 20 if with_token else None
    signed = dry_run(operator_bin, action, params, mode, token)
    assert signed["method"] == "POST" and signed["body"] == ""
    base, query, sent = split_url(signed["url"])
    assert base == "https://cams.ap-southeast-1.aliyuncs.com/"
    headers = signed["headers"]
    assert headers["host"] == "cams.ap-southeast-1.aliyuncs.com"

    business = sdk_query(action, model)
    if action == "ListChatGroup":
        # The SDK's Page model is the one JSON parameter the operator sends.
        assert business["Page"] == params["Page"]
    if mode == "v3":
        # The parameters are exactly the SDK's, on the wire in canonical form.
        assert sent == business
        assert query == get_canonical_query_string(business)
        signed_names = re.search(r"SignedHeaders=([^,]+)", headers["authorization"]).group(1).split(";")
        assert headers["x-acs-action"] == action
        assert headers["x-acs-date"] == TIMESTAMP and headers["x-acs-signature-nonce"] == NONCE
        assert headers["x-acs-content-sha256"] == EMPTY_SHA256
        assert ("x-acs-security-token" in signed_names) == with_token
        request = types.SimpleNamespace(
            pathname="/", method="POST", query=business, headers={h: headers[h] for h in signed_names}
        )
        expected = Utils.get_authorization(request, "ACS3-HMAC-SHA256", EMPTY_SHA256, "testid", "testsecret")
        assert headers["authorization"] == expected
    else:
        signature = sent.pop("Signature")
        common = {
            "AccessKeyId": "testid",
            "Action": action,
            "Format": "JSON",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": NONCE,
            "SignatureVersion": "1.0",
            "Timestamp": TIMESTAMP,
            "Version": "2020-06-06",
            **({"SecurityToken": token} if token else {}),
        }
        assert sent == {**common, **business}
        assert query.rsplit("&Signature=", 1)[0] == get_canonical_query_string(sent)
        assert signature == Utils.get_rpcsignature(sent, "POST", "testsecret")
        assert "authorization" not in headers


def test_operator_dry_run_reproduces_the_documented_update_vector(operator_bin: str):
    """UpdateChatGroup with the parameters of signing.md's vector (computed with the SDK's
    signing helper) gives its signature, through the binary as the README shows it."""
    _, params, _ = DRY_RUN_CASES["update"]
    params = {**params, "ChannelType": "WHATSAPP", "Subject": "Test subject",
              "Description": "Hello world & 100% üñí"}
    signed = dry_run(operator_bin, "UpdateChatGroup", params, "v3", None)
    assert signed["headers"]["authorization"].endswith(
        "Signature=e8fb5f348a31495d9e144f378c4470c3e925e127763bc9557300e16c8b285bb2"
    )


@pytest.mark.parametrize("mode", MODES)
def test_operator_call_lists_what_the_sdk_lists(tenant: Tenant, operator_bin: str, mode: str):
    for i in range(5):
        subject = f"{FILTER_SUBJECT} {i}" if i % 2 else f"Other group {i}"
        tenant.seed(f"G{i}", subject=subject, description=f"Line {i}")
    page = cams.ListChatGroupRequestPage(index=1, size=20)
    sdk = tenant.client(mode).list_chat_group(
        cams.ListChatGroupRequest(
            business_number=BUSINESS_NUMBER, cust_space_id=tenant.cust_space_id, page=page, subject=FILTER_SUBJECT
        )
    ).body
    assert sdk.code == "OK" and sdk.data.total == 2

    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": tenant.access_key_id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": tenant.secret}
    args = ["call", "ListChatGroup", "--endpoint", tenant.base_url, "--signature", "v3" if mode == "v3" else "v1"]
    for key, value in {
        "BusinessNumber": BUSINESS_NUMBER,
        "CustSpaceId": tenant.cust_space_id,
        "Page": '{"Index":1,"Size":20}',
        "Subject": FILTER_SUBJECT,
    }.items():
        args += ["--param", f"{key}={value}"]
    out = operator(operator_bin, args, env)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["Code"] == "OK"
    assert body["Data"]["Total"] == sdk.data.total
    rows = [(g["GroupId"], g["Subject"], g["Description"]) for g in body["Data"]["List"]]
    assert rows == [(g.group_id, g.subject, g.description) for g in sdk.data.list]
    assert [r[0] for r in rows] == ["G1", "G3"]

    calls = tenant.calls()
    assert [c["code"] for c in calls] == ["OK", "OK"]
    assert {c["signatureScheme"] for c in calls} == {mode}
    sdk_call, operator_call = calls
    assert operator_call["userAgent"].startswith("cams-operator/")
    for name in ("BusinessNumber", "CustSpaceId", "Page", "Subject"):
        assert operator_call["params"][name] == sdk_call["params"][name], name
