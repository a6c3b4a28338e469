"""The XMPP worker end to end: pnad attached as a XEP-0114 component to a
private Prosody on loopback, real slixmpp clients subscribing over XEP-0060,
discovering mailbox nodes over XEP-0030, and receiving events fed into the
ingest; plus reconnects after a Prosody restart and after malformed XML from
a fake server."""

import asyncio
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import feed, free_port, wait_until

slixmpp = pytest.importorskip("slixmpp")
from slixmpp.exceptions import IqError  # noqa: E402
from slixmpp.xmlstream.handler import Callback  # noqa: E402
from slixmpp.xmlstream.matcher import MatchXPath  # noqa: E402

COMPONENT = "pna.example.com"
SECRET = "s3cret"
NS_EVENT = "{http://jabber.org/protocol/pubsub#event}"
NS_MAIL = "{urn:pnad:mail-event:0}"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"


class Prosody:
    """A private Prosody: config, data, log and pid file in `d`."""

    def __init__(self, d):
        self.dir = d
        self.c2s = free_port()
        self.comp = free_port()
        self.s2s = free_port()
        self.conf = d / "prosody.cfg.lua"
        self.pidfile = d / "prosody.pid"
        (d / "data").mkdir(exist_ok=True)
        self.conf.write_text("""
pidfile = "%(d)s/prosody.pid"
daemonize = true
run_as_root = true
data_path = "%(d)s/data"
log = { %(level)s = "%(d)s/prosody.log" }
interfaces = { "127.0.0.1" }
c2s_ports = { %(c2s)d }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { %(s2s)d }
s2s_interfaces = { "127.0.0.1" }
component_ports = { %(comp)d }
component_interfaces = { "127.0.0.1" }
modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "posix"; "presence"; "message" }
modules_disabled = { "tls"; "limits"; "offline"; "s2s_bidi" }
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
VirtualHost "example.com"
Component "%(comp_name)s"
    component_secret = "%(secret)s"
""" % {"d": d, "c2s": self.c2s, "s2s": self.s2s, "comp": self.comp,
       "comp_name": COMPONENT, "secret": SECRET,
       "level": os.environ.get("PROSODY_LOG_LEVEL", "info")})

    def ctl(self, *args):
        return subprocess.run(["prosodyctl", "--config", str(self.conf)] + list(args),
                              capture_output=True, text=True, timeout=30)

    def start(self):
        self.ctl("start")
        wait_until(self._listening, what="prosody (log: %s)" % (self.dir / "prosody.log"))
        return self

    def _listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.c2s), timeout=1).close()
            socket.create_connection(("127.0.0.1", self.comp), timeout=1).close()
            return True
        except OSError:
            return False

    def register(self, user, pw="pw"):
        r = self.ctl("register", user, "example.com", pw)
        assert r.returncode == 0, r.stderr

    def pid(self):
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        pid = self.pid()
        if not pid:
            return
        try:
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not os.path.exists("/proc/%d" % pid), timeout=10,
                       what="prosody to exit")
        except ProcessLookupError:
            pass
        except AssertionError:
            os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)


@pytest.fixture
def prosody(tmp_path):
    d = tmp_path / "prosody"
    d.mkdir()
    p = Prosody(d).start()
    yield p
    p.stop()


class Client:
    """A slixmpp client in a thread of its own; calls are synchronous."""

    def __init__(self, prosody, user, pw="pw"):
        self.jid = "%s@example.com" % user
        self.messages = queue.Queue()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ready = threading.Event()
        self.call(self._start(prosody.c2s, pw))
        assert self.ready.wait(20), "%s did not log in" % self.jid

    async def _start(self, port, pw):
        x = slixmpp.ClientXMPP(self.jid + "/t", pw)
        for p in ("xep_0030", "xep_0060", "xep_0199"):
            x.register_plugin(p)
        x.add_event_handler("session_start", self._session)
        # Every <message>: slixmpp's "message" event skips those without a body.
        # Serialised from the element itself: str(m) of a received stanza drops
        # the stream's default namespace (jabber:client), so the body would not
        # be found as {jabber:client}body.
        x.register_handler(Callback("all messages", MatchXPath("{jabber:client}message"),
                                    lambda m: self.messages.put(
                                        ET.tostring(m.xml, encoding="unicode"))))
        self.x = x
        x.connect(("127.0.0.1", port), force_starttls=False, disable_starttls=True)

    async def _session(self, _):
        self.x.send_presence()
        await self.x.get_roster()
        self.ready.set()

    def call(self, coro, timeout=20):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def iq(self, type_, xml):
        async def go():
            iq = self.x.Iq()
            iq["type"] = type_
            iq["to"] = COMPONENT
            iq.append(ET.fromstring(xml))
            return await iq.send(timeout=10)
        try:
            return ET.fromstring(str(self.call(go()))), None
        except IqError as e:
            return ET.fromstring(str(e.iq)), e.iq["error"]["condition"]

    def subscribe(self, node, form=""):
        opts = ""
        if form:
            opts = ("<options><x xmlns='jabber:x:data' type='submit'>"
                    "<field var='FORM_TYPE' type='hidden'><value>"
                    "http://jabber.org/protocol/pubsub#subscribe_options</value></field>"
                    "%s</x></options>" % form)
        return self.iq("set", "<pubsub xmlns='%s'><subscribe node='%s' jid='%s'/>%s</pubsub>"
                       % (NS_PUBSUB, node, self.jid, opts))

    def disco_items(self, node):
        async def go():
            return await self.x["xep_0030"].get_items(jid=COMPONENT, node=node, timeout=10)
        r = self.call(go())
        return [(j, n, name) for j, n, name in r["disco_items"]["items"]]

    def events(self, timeout=15, pred=lambda e: True):
        """mail-event payloads (node, attrs) until one matches pred."""
        end = time.time() + timeout
        seen = []
        while time.time() < end:
            try:
                m = ET.fromstring(self.messages.get(timeout=0.2))
            except queue.Empty:
                continue
            for items in m.iter(NS_EVENT + "items"):
                for ev in items.iter(NS_MAIL + "mail-event"):
                    e = dict(ev.attrib, node=items.get("node"), msg_type=m.get("type"))
                    seen.append(e)
                    if pred(e):
                        return e, seen
        raise AssertionError("no matching event; saw %r" % seen)

    def close(self):
        """Disconnect, then end slixmpp's own tasks before the loop stops:
        left pending, they ran into a closed loop at exit and printed
        'Event loop is closed' tracebacks after the tests. Once is enough."""
        if self.loop.is_closed():
            return
        for step in (self._stop, self._cancel_rest):
            try:
                self.call(step(), timeout=5)
            except Exception:
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()

    async def _stop(self):
        await self.x.disconnect(wait=1)

    @staticmethod
    async def _cancel_rest():
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in rest:
            t.cancel()
        await asyncio.gather(*rest, return_exceptions=True)


@pytest.fixture
def clients():
    made = []

    def make(prosody, user):
        prosody.register(user)
        c = Client(prosody, user)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def xmpp_pnad(pnad_factory, port, extra="", **kw):
    return pnad_factory(shards=2, extra="xmpp_server = 127.0.0.1:%d\nxmpp_component = %s\n"
                        "xmpp_secret = %s\n%s" % (port, COMPONENT, SECRET, extra), **kw)


def xmpp_metrics(pnad):
    """The XMPP worker's counters from /metrics (pnad_xmpp_*)."""
    status, text = pnad.api().text("/metrics")
    assert status == 200
    return {k: int(v) for k, v in (l.split() for l in text.splitlines()
                                   if l.startswith("pnad_xmpp_"))}


def attached(pnad, count=1):
    def ok():
        return pnad.log.read_text().count("xmpp component %s attached" % COMPONENT) >= count
    wait_until(ok, timeout=30, what="pnad to attach to the XMPP server (%d)" % count)


def subscribe_ok(client, node, form=""):
    r, err = client.subscribe(node, form)
    assert err is None, ET.tostring(r)
    sub = r.find(".//{%s}subscription" % NS_PUBSUB)
    assert sub.get("subscription") == "subscribed" and sub.get("node") == node
    return sub


def test_inbox_subscribe_and_event(prosody, pnad_factory, clients):
    pnad = xmpp_pnad(pnad_factory, prosody.comp)
    attached(pnad)
    alice = clients(prosody, "alice")
    node = "alice@example.com/mail_events/INBOX"
    subscribe_ok(alice, node)
    # The current state comes right after the result, as the last item.
    st, _ = alice.events(pred=lambda e: e["kind"] == "state")
    assert st["node"] == node and st["msg_type"] == "headline"
    feed(pnad, [{"event": "MessageNew", "account": "alice@example.com", "mailbox": "INBOX",
                 "uid": 7, "uidvalidity": 42, "messages": 7, "unseen": 3}])
    ev, _ = alice.events(pred=lambda e: e["kind"] == "event")
    assert ev["type"] == "MessageNew" and ev["mailbox"] == "INBOX" and ev["node"] == node
    assert (ev["uid"], ev["messages"], ev["unseen"]) == ("7", "7", "3")
    # Listing, options, unsubscribe.
    r, err = alice.iq("get", "<pubsub xmlns='%s'><subscriptions/></pubsub>" % NS_PUBSUB)
    subs = r.findall(".//{%s}subscription" % NS_PUBSUB)
    assert err is None and [s.get("node") for s in subs] == [node]
    r, err = alice.iq("get", "<pubsub xmlns='%s'><options node='%s' jid='%s'/></pubsub>"
                      % (NS_PUBSUB, node, alice.jid))
    assert err is None and b"pnad#event_types" in ET.tostring(r)
    r, err = alice.iq("set", "<pubsub xmlns='%s'><unsubscribe node='%s' jid='%s'/></pubsub>"
                      % (NS_PUBSUB, node, alice.jid))
    assert err is None
    r, err = alice.iq("set", "<pubsub xmlns='%s'><unsubscribe node='%s' jid='%s'/></pubsub>"
                      % (NS_PUBSUB, node, alice.jid))
    assert err == "unexpected-request"
    # The worker's counters: one subscribe, its state item, the event.
    m = xmpp_metrics(pnad)
    assert m["pnad_xmpp_link_up"] == 1 and m["pnad_xmpp_connects_total"] == 1, m
    assert m["pnad_xmpp_subscribes_ok_total"] == 1, m
    assert m["pnad_xmpp_subscribes_refused_total"] == 0, m
    assert m["pnad_xmpp_states_total"] + m["pnad_xmpp_notifications_total"] >= 2, m
    assert m["pnad_xmpp_sent_bytes_total"] > 500 and m["pnad_xmpp_malformed_total"] == 0, m


@pytest.mark.parametrize("coalesce_us", [1000, 0])
def test_a_stream_of_events_is_delivered_whole(prosody, pnad_factory, clients, coalesce_us):
    """While jobs keep coming the worker gathers them for xmpp_coalesce_us
    instead of being woken per frame (0: woken every time). Either way every
    event reaches the subscriber, in a stanza of its own or folded into a
    later one (coalesced counts the folds), and the last state is exact."""
    n = 300
    pnad = xmpp_pnad(pnad_factory, prosody.comp, "xmpp_coalesce_us = %d\n" % coalesce_us)
    attached(pnad)
    alice = clients(prosody, "alice")
    subscribe_ok(alice, "alice@example.com/mail_events/INBOX")
    alice.events(pred=lambda e: e["kind"] == "state")
    feed(pnad, [{"event": "MessageNew", "account": "alice@example.com", "mailbox": "INBOX",
                 "uid": u, "uidvalidity": 42, "messages": u, "unseen": u}
                for u in range(1, n + 1)], args=("-b", "1"))
    last, seen = alice.events(timeout=30, pred=lambda e: e["kind"] == "event"
                              and e["uid"] == str(n))
    evs = [e for e in seen if e["kind"] == "event"]
    assert sum(1 + int(e["coalesced"]) for e in evs) == n, evs
    assert [int(e["uid"]) for e in evs] == sorted(int(e["uid"]) for e in evs)
    assert (last["messages"], last["unseen"]) == (str(n), str(n))
    waits = xmpp_metrics(pnad)["pnad_xmpp_coalesced_waits_total"]
    assert waits >= 1 if coalesce_us else waits == 0


def test_subtree_on_account_node(prosody, pnad_factory, clients):
    pnad = xmpp_pnad(pnad_factory, prosody.comp)
    attached(pnad)
    bob = clients(prosody, "bob")
    subscribe_ok(bob, "bob@example.com/mail_events")
    feed(pnad, [{"event": "MessageNew", "account": "bob@example.com", "mailbox": "Work/2026",
                 "uid": 1, "messages": 1, "unseen": 1}])
    ev, _ = bob.events(pred=lambda e: e["kind"] == "event")
    assert ev["mailbox"] == "Work/2026"
    assert ev["node"] == "bob@example.com/mail_events/Work/2026"


def test_event_type_filter_and_exact_depth(prosody, pnad_factory, clients):
    pnad = xmpp_pnad(pnad_factory, prosody.comp)
    attached(pnad)
    eve = clients(prosody, "eve")
    subscribe_ok(eve, "eve@example.com/mail_events",
                 "<field var='pubsub#subscription_depth'><value>1</value></field>"
                 "<field var='pnad#event_types'><value>MessageNew</value></field>")
    subscribe_ok(eve, "eve@example.com/mail_events/INBOX",
                 "<field var='pnad#event_types'><value>MessageExpunge</value></field>")
    feed(pnad, [
        {"event": "MessageNew", "account": "eve@example.com", "mailbox": "INBOX", "uid": 1},
        {"event": "MessageExpunge", "account": "eve@example.com", "mailbox": "INBOX",
         "uidset": "1"},
    ])
    ev, seen = eve.events(pred=lambda e: e["kind"] == "event")
    assert ev["type"] == "MessageExpunge", seen
    r, err = eve.subscribe("eve@example.com/mail_events",
                           "<field var='pnad#event_types'><value>NoSuch</value></field>")
    assert err == "bad-request"


def test_not_authorized_then_grant(prosody, pnad_factory, clients):
    pnad = xmpp_pnad(pnad_factory, prosody.comp)
    attached(pnad)
    mallory = clients(prosody, "mallory")
    node = "carol@example.com/mail_events/INBOX"
    r, err = mallory.subscribe(node)
    assert err == "not-authorized"
    # Someone else's JID in the request: XEP-0060 invalid-jid.
    r, err = mallory.iq("set", "<pubsub xmlns='%s'><subscribe node='%s' jid='x@example.com'/>"
                        "</pubsub>" % (NS_PUBSUB, node))
    assert err == "bad-request" and b"invalid-jid" in ET.tostring(r)
    r, err = mallory.subscribe("not-a-node")
    assert err == "item-not-found"
    assert xmpp_metrics(pnad)["pnad_xmpp_subscribes_refused_total"] == 1
    grant = {"account": "carol@example.com", "path": "INBOX",
             "grantee": "mallory@example.com", "rights": ["subscribe"]}
    assert pnad.api().request("POST", "/v1/grants", grant)[0] == 201
    subscribe_ok(mallory, node)
    feed(pnad, [{"event": "MessageNew", "account": "carol@example.com", "mailbox": "INBOX",
                 "uid": 3, "messages": 3, "unseen": 1}])
    ev, _ = mallory.events(pred=lambda e: e["kind"] == "event")
    assert ev["account"] == "carol@example.com" and ev["unseen"] == "1"


def test_disco(prosody, pnad_factory, clients):
    pnad = xmpp_pnad(pnad_factory, prosody.comp)
    attached(pnad)
    dave = clients(prosody, "dave")
    acct_node = "dave@example.com/mail_events"

    async def info():
        return await dave.x["xep_0030"].get_info(jid=COMPONENT, timeout=10)
    r = dave.call(info())
    assert ("pubsub", "service", None, "Mail notifications") in r["disco_info"]["identities"]
    assert NS_PUBSUB in r["disco_info"]["features"]
    feed(pnad, [
        {"event": "MessageNew", "account": "dave@example.com", "mailbox": "INBOX", "uid": 1},
        {"event": "MailboxCreate", "account": "dave@example.com", "mailbox": "Projects"},
    ])
    pnad.wait_drained()
    names = lambda: {n for _, n, _ in dave.disco_items(acct_node)}  # noqa: E731
    wait_until(lambda: acct_node + "/Projects" in names(), what="Projects in disco#items")
    assert acct_node + "/INBOX" in names()
    feed(pnad, [{"event": "MailboxRename", "account": "dave@example.com",
                 "oldMailbox": "Projects", "mailbox": "Archive/Projects"}])
    wait_until(lambda: acct_node + "/Archive/Projects" in names(), what="renamed mailbox")
    assert acct_node + "/Projects" not in names()
    # Another account's mailboxes stay private.
    with pytest.raises(IqError):
        async def other():
            return await dave.x["xep_0030"].get_items(jid=COMPONENT,
                                                     node="alice@example.com/mail_events",
                                                     timeout=10)
        dave.call(other())


def test_sieve_message(prosody, pnad_factory, clients):
    pnad = xmpp_pnad(pnad_factory, prosody.comp)
    attached(pnad)
    fred = clients(prosody, "fred")
    feed(pnad, [{"event": "SieveNotify", "account": "gina@example.com", "mailbox": "INBOX",
                 "target": "xmpp:fred@example.com", "text": "You got <mail> from Gina"}])

    def body():
        try:
            m = ET.fromstring(fred.messages.get(timeout=0.2))
        except queue.Empty:
            return None
        b = m.find("{jabber:client}body")
        if b is None:
            return None
        assert m.get("type") == "headline" and m.get("from") == COMPONENT
        return b.text
    assert wait_until(body, what="the Sieve message") == "You got <mail> from Gina"


def test_mailbox_delete_ends_subscription(prosody, pnad_factory, clients):
    """XEP-0060 8.8.4: when the node's mailbox is deleted the subscription
    ends and the subscriber gets a subscription='none' notice."""
    pnad = xmpp_pnad(pnad_factory, prosody.comp)
    attached(pnad)
    hank = clients(prosody, "hank")
    node = "hank@example.com/mail_events/Old"
    subid = subscribe_ok(hank, node).get("subid")
    feed(pnad, [{"event": "MailboxDelete", "account": "hank@example.com", "mailbox": "Old"}])

    def notice():
        try:
            m = ET.fromstring(hank.messages.get(timeout=0.2))
        except queue.Empty:
            return None
        sub = m.find(".//{%s}subscription" % NS_PUBSUB)
        return dict(sub.attrib) if sub is not None else None  # an empty Element is falsy
    sub = wait_until(notice, what="the subscription='none' notice")
    assert sub.get("subscription") == "none" and sub.get("node") == node
    assert sub.get("jid") == hank.jid and sub.get("subid") == subid
    r, err = hank.iq("get", "<pubsub xmlns='%s'><subscriptions/></pubsub>" % NS_PUBSUB)
    assert err is None and r.findall(".//{%s}subscription" % NS_PUBSUB) == []


def test_prosody_restart_reconnects(prosody, pnad_factory, clients):
    pnad = xmpp_pnad(pnad_factory, prosody.comp)
    attached(pnad)
    alice = clients(prosody, "alice")
    node = "alice@example.com/mail_events/INBOX"
    subscribe_ok(alice, node)
    alice.close()
    prosody.stop()
    wait_until(lambda: "xmpp link to" in pnad.log.read_text(), what="pnad to see the link go")
    prosody.start()
    attached(pnad, 2)
    alice = clients(prosody, "alice")
    feed(pnad, [{"event": "MessageNew", "account": "alice@example.com", "mailbox": "INBOX",
                 "uid": 9, "messages": 9, "unseen": 4}])
    ev, _ = alice.events(pred=lambda e: e["kind"] == "event")
    assert ev["uid"] == "9" and ev["unseen"] == "4"


def test_component_answers_ping(prosody, pnad_factory, clients):
    """XEP-0199 4.2: a client's ping to the component JID gets a result."""
    pnad = xmpp_pnad(pnad_factory, prosody.comp)
    attached(pnad)
    ivan = clients(prosody, "ivan")

    async def ping():
        return await ivan.x["xep_0199"].ping(jid=COMPONENT, timeout=10)
    rtt = ivan.call(ping())
    assert 0 <= rtt < 10


def test_ping_timeout_reconnects(prosody, pnad_factory, clients):
    """XEP-0199 end to end: pnad pings itself through Prosody when the link
    is idle; with Prosody frozen (SIGSTOP) the ping goes unanswered, the
    link is declared dead and, once Prosody runs again, re-established, and
    notifications flow again."""
    pnad = xmpp_pnad(pnad_factory, prosody.comp,
                     extra="xmpp_ping_idle = 1\nxmpp_ping_timeout = 2")
    attached(pnad)
    alice = clients(prosody, "alice")
    node = "alice@example.com/mail_events/INBOX"
    subscribe_ok(alice, node)
    wait_until(lambda: xmpp_metrics(pnad)["pnad_xmpp_pongs_total"] >= 1,
               what="a liveness ping answered through Prosody")
    assert xmpp_metrics(pnad)["pnad_xmpp_ping_timeouts_total"] == 0
    pid = prosody.pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_until(lambda: "no answer to a ping" in pnad.log.read_text(), timeout=15,
                   what="pnad to give the frozen link up")
        m = xmpp_metrics(pnad)
        assert m["pnad_xmpp_ping_timeouts_total"] == 1 and m["pnad_xmpp_link_up"] == 0, m
    finally:
        os.kill(pid, signal.SIGCONT)
    attached(pnad, 2)
    m = xmpp_metrics(pnad)
    assert m["pnad_xmpp_connects_total"] >= 2 and m["pnad_xmpp_link_up"] == 1, m
    feed(pnad, [{"event": "MessageNew", "account": "alice@example.com", "mailbox": "INBOX",
                 "uid": 11, "messages": 11, "unseen": 5}])
    ev, _ = alice.events(timeout=30, pred=lambda e: e["kind"] == "event")
    assert ev["uid"] == "11" and ev["unseen"] == "5"


class FakeServer:
    """Accepts component connections, completes the handshake, then sends
    `payload`; counts connections."""

    def __init__(self, payload):
        self.payload = payload
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.connections += 1
            try:
                c.settimeout(5)
                data = b""
                while b">" not in data.split(b"stream:stream", 1)[-1]:
                    data += c.recv(4096)
                c.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept'"
                          b" xmlns:stream='http://etherx.jabber.org/streams' id='abc'"
                          b" from='pna.example.com'>")
                while b"</handshake>" not in data:
                    data += c.recv(4096)
                c.sendall(b"<handshake/>" + self.payload)
                time.sleep(0.3)
            except OSError:
                pass
            finally:
                c.close()

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("payload", [
    b"<message from='x@example.com' to='pna.example.com'><body>a</bod></message>",
    b"<!DOCTYPE lol [<!ENTITY a 'aaaa'>]><iq/>",
    b"<iq from='x' to='pna.example.com' type='get' id='1'>" + b"<a>" * 100,
    b"\xff\xfe<<<>>>",
])
def test_malformed_xml_reconnects(pnad_factory, payload):
    fake = FakeServer(payload)
    try:
        pnad = xmpp_pnad(pnad_factory, fake.port)
        wait_until(lambda: fake.connections >= 3, timeout=30, what="pnad to reconnect")
        assert pnad.proc.poll() is None
        log = pnad.log.read_text()
        assert "xmpp link to" in log and "exited" not in log.split("xmpp component")[-1]
    finally:
        fake.close()
