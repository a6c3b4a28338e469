"""Fixtures that start pnad (and later its peers) on loopback ports chosen at
run time, talk to it through pnactl and the feeder, and stop every process
they started by its pid."""

import json
import os
import signal
import socket
import subprocess
import time
import uuid

import pytest

BIN = os.environ.get("PNA_BIN", os.path.join(os.path.dirname(__file__), "../../build"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_port():
    """A free port P <= 55535 whose bus port P + 10000 is free too (Redis
    Cluster refuses higher ones)."""
    import random
    for _ in range(200):
        p = random.randint(20000, 55000)
        try:
            for q in (p, p + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", q))
            return p
        except OSError:
            continue
    raise AssertionError("no free port pair for a cluster node")


def wait_until(pred, timeout=20, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def parse_kv(text):
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        out.setdefault(k, []).append(v)
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


class Redis:
    """A private redis-server on a loopback port, stopped by its pid."""

    def __init__(self, tmp, port=None, cluster=False, durable=False):
        self.dir = tmp
        self.durable = durable
        self.port = port or (cluster_port() if cluster else free_port())
        self.cluster = cluster
        self.pidfile = tmp / "redis.pid"

    def start(self):
        args = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
                "--save", "", "--appendonly", "yes" if self.durable else "no",
                "--appendfsync", "always", "--dir", str(self.dir),
                "--daemonize", "yes", "--pidfile", str(self.pidfile),
                "--logfile", str(self.dir / "redis.log")]
        if self.cluster:
            conf = self.dir / "nodes.conf"
            if conf.exists():
                conf.unlink()
            args += ["--cluster-enabled", "yes", "--cluster-config-file", str(conf),
                     "--cluster-node-timeout", "5000"]
        subprocess.run(args, check=True, timeout=10)
        wait_until(lambda: self.cli("PING", check=False).strip() == "PONG",
                   what="redis-server on %d" % self.port)
        return self

    def cli(self, *args, check=True):
        r = subprocess.run(["redis-cli", "-p", str(self.port)] + list(args),
                           capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise AssertionError("redis-cli %s: %s" % (args, r.stderr))
        return r.stdout

    def pid(self):
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        pid = self.pid()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_until(lambda: not os.path.exists("/proc/%d" % pid), what="redis to exit")
            self.pidfile.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    r = Redis(tmp_path_factory.mktemp("redis")).start()
    yield r
    r.stop()


@pytest.fixture
def private_redis(tmp_path):
    d = tmp_path / "redis"
    d.mkdir()
    # Durable: a restart must find what was written before the outage.
    r = Redis(d, durable=True).start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory):
    nodes = []
    try:
        for i in range(3):
            d = tmp_path_factory.mktemp("cluster%d" % i)
            nodes.append(Redis(d, cluster=True).start())
        subprocess.run(["redis-cli", "--cluster", "create"] +
                       ["127.0.0.1:%d" % n.port for n in nodes] +
                       ["--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        wait_until(lambda: all("cluster_state:ok" in n.cli("CLUSTER", "INFO") for n in nodes),
                   timeout=30, what="cluster_state:ok")
        yield nodes
    finally:
        for n in nodes:
            n.stop()


class Pnad:
    def __init__(self, tmp, shards=2, stores=(("s1", "secret1"),), extra="",
                 redis="none", name=None, unlink=True):
        self.tmp = tmp
        self.name = name or "pt" + uuid.uuid4().hex[:10]
        self.port = free_port()
        self.admin_port = free_port()
        self.token = uuid.uuid4().hex
        self.conf = tmp / "pnad.conf"
        self.log = tmp / "pnad.log"
        self.stores = dict(stores)
        lines = [
            "name = %s" % self.name,
            "listen = 127.0.0.1:%d" % self.port,
            "shards = %d" % shards,
            "ring_bytes = 1M",
            "mailboxes = 65536",
            "unlink_on_exit = %s" % ("yes" if unlink else "no"),
            "redis = %s" % redis,
            "redis_prefix = %s" % self.name,
            "subscriptions = 131072",
            "sub_string_bytes = 16M",
            "outbox_bytes = 16M",
            "admin_listen = 127.0.0.1:%d" % self.admin_port,
            "admin_token = %s" % self.token,
        ]
        # A key in `extra` replaces the default above (keys may not repeat).
        given = {l.split("=")[0].strip() for l in extra.splitlines() if "=" in l}
        lines = [l for l in lines if l.split("=")[0].strip() not in given]
        lines += ["store = %s %s" % s for s in stores] + [extra]
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc = None

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([os.path.join(BIN, "pnad"), "-c", str(self.conf)],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        wait_until(self._ready, what="pnad to listen (log: %s)" % self.log)
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("pnad exited with %s: %s" % (self.proc.returncode,
                                                             self.log.read_text()))
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        st = self.stats()
        return st is not None and int(st.get("router.pid", 0)) > 0

    def ctl(self, *args, check=True):
        r = subprocess.run([os.path.join(BIN, "pnactl"), "-c", str(self.conf)] + list(args),
                           capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise AssertionError("pnactl %s: %s" % (" ".join(args), r.stderr))
        return r

    def api(self, token=True):
        from h2client import H2Client
        return H2Client(self.admin_port, self.token if token else None)

    def stats(self):
        r = self.ctl("stats", check=False)
        return parse_kv(r.stdout) if r.returncode == 0 else None

    def mailbox(self, key):
        r = self.ctl("mailbox", key, check=False)
        return parse_kv(r.stdout) if r.returncode == 0 else None

    def account(self, acct):
        r = self.ctl("account", acct)
        boxes = {}
        for line in r.stdout.splitlines():
            if line.startswith("mailbox "):
                parts = line.split()
                boxes[parts[1]] = dict(p.split("=") for p in parts[2:])
        return parse_kv(r.stdout), boxes

    def wait_drained(self, timeout=60):
        """Wait until every shard has consumed its ring: acked events are
        in a ring, applied only once the shard took them."""
        def drained():
            st = self.stats()
            i, ok = 0, True
            while "shard.%d.ring_used" % i in st:
                ok = ok and int(st["shard.%d.ring_used" % i]) == 0
                i += 1
            return st if ok else None
        return wait_until(drained, timeout=timeout, what="shards to drain their rings")

    def child_pids(self):
        """Every child of the supervisor (router, shards, admin, egress
        workers), from /proc."""
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                stat = open("/proc/%s/stat" % d).read()
            except OSError:
                continue
            # The command may hold spaces: fields after the last ')'.
            if int(stat[stat.rindex(")") + 2:].split()[1]) == self.proc.pid:
                pids.append(int(d))
        return pids

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        for f in os.listdir("/dev/shm"):
            if f.startswith(self.name + "."):
                os.unlink(os.path.join("/dev/shm", f))
        return self.proc.returncode if self.proc else None


@pytest.fixture
def pnad_factory(tmp_path):
    started = []

    def make(**kw):
        d = tmp_path / ("pnad%d" % len(started))
        d.mkdir()
        p = Pnad(d, **kw)
        started.append(p)
        return p.start()

    yield make
    for p in started:
        pids = []
        try:
            pids = p.child_pids() if p.proc.poll() is None else []
        except Exception:
            pass
        p.stop()
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("child %d outlived pnad" % pid)


def feed(pnad, lines, store="s1", args=(), timeout=300):
    """Stream JSON lines through pna-feed; return its summary as a dict."""
    data = "".join(json.dumps(l) + "\n" for l in lines)
    cmd = [os.path.join(BIN, "pna-feed"), "-H", "127.0.0.1", "-p", str(pnad.port),
           "-s", store, "-k", pnad.stores[store], "--quiet"] + list(args) + ["-"]
    r = subprocess.run(cmd, input=data, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "pna-feed failed (%d): %s" % (r.returncode, r.stderr)
    return dict(kv.split("=") for kv in r.stdout.split())


def start_feed(pnad, lines, store="s1", args=()):
    """pna-feed in the background; returns the Popen (stdin already written)."""
    path = pnad.tmp / ("feed-%s-%s.jsonl" % (store, uuid.uuid4().hex[:6]))
    with open(path, "w") as f:
        for l in lines:
            f.write(json.dumps(l) + "\n")
    cmd = [os.path.join(BIN, "pna-feed"), "-H", "127.0.0.1", "-p", str(pnad.port),
           "-s", store, "-k", pnad.stores[store], "--quiet"] + list(args) + [str(path)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_feed(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, "pna-feed failed (%d): %s" % (proc.returncode, err)
    return dict(kv.split("=") for kv in out.split())
