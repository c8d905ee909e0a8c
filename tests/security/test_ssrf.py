"""The outbound guard (deliberation/netguard.py) on real sockets: webhooks and the "Send a test
ping" page refuse internal addresses after DNS resolution, pin the checked address, do not
follow redirects, and never show a receiver's body or tell open ports from closed ones."""

from __future__ import annotations

import socket
import threading

import pytest
from django.test import Client
from django.urls import reverse

from deliberation import netguard
from deliberation.webhooks import services as hooks
from deliberation.webhooks.models import Delivery, Webhook

pytestmark = pytest.mark.django_db(transaction=True)

REFUSED = [
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "0.0.0.0",
    "::",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "fc00::1",
    "fd00:ec2::254",  # AWS's IPv6 metadata endpoint
    "169.254.169.254",  # cloud metadata
    "169.254.1.1",
    "fe80::1",
    "100.64.0.1",  # carrier-grade NAT
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
    "::ffff:127.0.0.1",  # IPv4-mapped forms
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.fixture(autouse=True)
def _queue(task_queue):
    """Deliveries enqueued on commit go to this test's own queue (no worker: we deliver)."""


def _deliver(hook: Webhook) -> Delivery:
    delivery = hooks.ping(hook)
    hooks.deliver(delivery.pk)
    delivery.refresh_from_db()
    return delivery


@pytest.mark.parametrize("address", REFUSED)
def test_internal_addresses_are_refused_by_default(production_outbound, address):
    assert netguard.refusal_reason(address) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(production_outbound, address):
    assert netguard.refusal_reason(address) is None


def test_the_operator_list_allows_exactly_its_networks(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32", "10.5.0.0/16"]
    assert netguard.refusal_reason("127.0.0.1") is None
    assert netguard.refusal_reason("::ffff:127.0.0.1") is None
    assert netguard.refusal_reason("10.5.3.4") is None
    assert netguard.refusal_reason("127.0.0.2") == "loopback"
    assert netguard.refusal_reason("10.6.0.1") == "private"
    assert netguard.refusal_reason("169.254.169.254").startswith("link-local")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://localhost:{port}/hook",  # a name that resolves to loopback
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://10.0.0.1/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/hook",
    ],
)
def test_the_webhook_page_refuses_internal_receivers(production_outbound, moderator, receiver, url):
    r = receiver()
    client = Client()
    client.force_login(moderator)
    page = client.post(
        reverse("webhooks:list"), {"url": url.format(port=r.port), "events": ["session.finished"]}
    )
    assert page.status_code == 200
    assert "which this server does not call" in page.content.decode()
    assert not Webhook.objects.exists()
    assert r.requests == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1"]
)
def test_a_stored_hook_on_loopback_is_never_called(production_outbound, moderator, receiver, host):
    """A hook stored before the rule (or written around the form) is refused at delivery, at
    once and for good, and the receiver sees nothing."""
    r = receiver()
    hook = Webhook.objects.create(
        owner=moderator, url=f"http://{host}:{r.port}/hook", events=["session.finished"]
    )
    delivery = _deliver(hook)
    assert delivery.status == "failed" and delivery.attempts == 1
    assert delivery.last_error.startswith("refused:") and "loopback" in delivery.last_error
    assert r.requests == []


def test_metadata_and_private_hooks_are_refused_without_a_connection(
    production_outbound, moderator
):
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.1:8080/"):
        hook = Webhook.objects.create(owner=moderator, url=url, events=[])
        delivery = _deliver(hook)
        assert delivery.status == "failed" and delivery.last_error.startswith("refused:")


def test_a_redirect_to_a_refused_address_is_not_followed(settings, moderator, receiver):
    """The operator allows 127.0.0.1 only; the allowed receiver redirects to 127.0.0.2."""
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    inside = receiver(host="127.0.0.2", body=b"internal secret")
    bouncer = receiver(status=307, headers={"Location": inside.url})
    hook = Webhook.objects.create(owner=moderator, url=bouncer.url, events=[])
    delivery = _deliver(hook)
    assert len(bouncer.requests) == 1
    assert inside.requests == []
    assert delivery.status == "pending" and delivery.last_error == "HTTP 307"
    # A guarded client told to follow redirects checks every hop all the same.
    with (
        netguard.client(follow_redirects=True, timeout=5) as client,
        pytest.raises(netguard.OutboundRefused, match="loopback"),
    ):
        client.post(bouncer.url, content=b"{}")
    assert inside.requests == []
    assert len(bouncer.requests) == 2


def test_the_connection_is_pinned_to_the_checked_address(settings, receiver, monkeypatch):
    """DNS rebinding: the name resolves to an allowed address when checked and to a refused one
    afterwards. The guard resolves once per connection and connects to what it checked."""
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    allowed = receiver()
    inside = receiver(host="127.0.0.2")
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])
    calls = []

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.test":
            calls.append(host)
            ip = next(answers, "127.0.0.2")  # the second lookup would point inside
            return real(ip, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with netguard.client(timeout=5) as client:
        response = client.post(f"http://rebind.test:{allowed.port}/hook", content=b"{}")
    assert response.status_code == 200
    assert len(allowed.requests) == 1 and inside.requests == []
    assert allowed.requests[0][1]["Host"] == f"rebind.test:{allowed.port}"
    assert calls == ["rebind.test"]  # one resolution, the one that was checked
    # And a name that now resolves inside is refused before any connection.
    with netguard.client(timeout=5) as client, pytest.raises(netguard.OutboundRefused):
        client.post(f"http://rebind.test:{inside.port}/hook", content=b"{}")
    assert inside.requests == []


def test_the_ping_page_shows_the_status_never_the_body(moderator, receiver):
    r = receiver(status=500, body=b"root:x:0:0:INTERNAL-BODY")
    client = Client()
    client.force_login(moderator)
    client.post(reverse("webhooks:list"), {"url": r.url, "events": ["session.finished"]})
    hook = Webhook.objects.get()
    client.post(reverse("webhooks:ping", args=[hook.pk]))
    hooks.deliver(Delivery.objects.get(webhook=hook).pk)
    page = client.get(reverse("webhooks:list")).content.decode()
    assert len(r.requests) == 1
    assert "500" in page
    assert "INTERNAL-BODY" not in page
    assert Delivery.objects.get(webhook=hook).last_error == "HTTP 500"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_that(behaviour: str):
    """An open port that hangs up at once, or answers with something that is not HTTP."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                if behaviour == "garbage":
                    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
                conn.recv(1024)

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_errors_do_not_tell_open_ports_from_closed_ones(moderator, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    hangup, garbage = _port_that("hangup"), _port_that("garbage")
    try:
        ports = [_closed_port(), hangup.getsockname()[1], garbage.getsockname()[1]]
        errors = set()
        for port in ports:
            hook = Webhook.objects.create(
                owner=moderator, url=f"http://127.0.0.1:{port}/", events=[]
            )
            delivery = _deliver(hook)
            assert delivery.status == "pending" and delivery.last_status_code is None
            errors.add(delivery.last_error)
        assert errors == {"could not connect or no answer within 1 s"}
    finally:
        hangup.close()
        garbage.close()
