"""workload: deterministic event streams and an independent model of the
mailbox counts they must produce (docs/architecture.md, "Counts")."""

import random


def account_name(i):
    # Mixed-case domains: pnad must route and store them lower-cased.
    return "user%d@Dom%d.Example" % (i, i % 7)


def canonical(acct):
    user, _, dom = acct.partition("@")
    return user + "@" + dom.lower()


class Model:
    def __init__(self):
        self.boxes = {}  # (account, path) -> dict

    def box(self, acct, path):
        return self.boxes.setdefault((canonical(acct), path),
                                     {"messages": 0, "unseen": 0, "uidnext": 0})

    def apply(self, ev):
        t = ev["event"]
        b = self.box(ev["account"], ev["mailbox"])
        if t == "MessageNew":
            b["messages"] += 1
            b["unseen"] += 1
            b["uidnext"] = max(b["uidnext"], ev["uid"] + 1)
        elif t == "MessageRead":
            b["unseen"] = max(0, b["unseen"] - count_uidset(ev["uidset"]))
        elif t == "MessageExpunge":
            b["messages"] = max(0, b["messages"] - count_uidset(ev["uidset"]))
            b["unseen"] = min(b["unseen"], b["messages"])
        for k in ("messages", "unseen", "uidnext"):
            if k in ev:
                b[k] = ev[k]


def count_uidset(s):
    n = 0
    for part in s.split(","):
        a, _, b = part.partition(":")
        n += abs(int(b or a) - int(a)) + 1
    return n


def mail_stream(accounts, events_per_account, seed=1, boxes=("INBOX", "Work/Projects")):
    """Per account: creates, then new mail, reads, expunges and now and then
    absolute counts, interleaved across accounts. Returns (per-account event
    lists, model)."""
    rnd = random.Random(seed)
    model = Model()
    streams = {}
    for i in accounts:
        acct = account_name(i)
        evs = [{"event": "MailboxCreate", "account": acct, "mailbox": b, "uidvalidity": 7}
               for b in boxes]
        uid = {b: 0 for b in boxes}
        while len(evs) < events_per_account:
            b = rnd.choice(boxes)
            r = rnd.random()
            if r < 0.6 or uid[b] < 3:
                uid[b] += 1
                ev = {"event": "MessageNew", "account": acct, "mailbox": b, "uid": uid[b]}
                if rnd.random() < 0.05:
                    ev["messages"] = rnd.randint(uid[b], uid[b] + 5)
                    ev["unseen"] = rnd.randint(0, 3)
            elif r < 0.85:
                lo = rnd.randint(1, uid[b])
                ev = {"event": "MessageRead", "account": acct, "mailbox": b,
                      "uidset": "%d:%d" % (lo, min(uid[b], lo + rnd.randint(0, 2)))}
            else:
                ev = {"event": "MessageExpunge", "account": acct, "mailbox": b,
                      "uidset": "%d" % rnd.randint(1, uid[b])}
            evs.append(ev)
        for ev in evs:
            model.apply(ev)
        streams[i] = evs
    return streams, model


def interleave(streams, keys, seed=2):
    """Merge per-account streams, keeping each account's order."""
    rnd = random.Random(seed)
    queues = [list(streams[k]) for k in keys]
    idx = [0] * len(queues)
    out = []
    live = [q for q in range(len(queues)) if queues[q]]
    while live:
        q = rnd.choice(live)
        out.append(queues[q][idx[q]])
        idx[q] += 1
        if idx[q] == len(queues[q]):
            live.remove(q)
    return out


def check_accounts(pnad, model, accounts):
    """Every mailbox of every account has the model's counts and lives on the
    shard the hash names, and only there."""
    bad = []
    for i in accounts:
        acct = canonical(account_name(i))
        head, boxes = pnad.account(acct)
        owner = head["owner_shard"]
        want = {p: v for (a, p), v in model.boxes.items() if a == acct}
        if set(boxes) != set(want):
            bad.append((acct, "mailboxes", sorted(boxes), sorted(want)))
            continue
        for path, w in want.items():
            got = boxes[path]
            if got["shard"] != owner:
                bad.append((acct, path, "on shard", got["shard"], "owner", owner))
            for k in ("messages", "unseen", "uidnext"):
                if int(got[k]) != w[k]:
                    bad.append((acct, path, k, int(got[k]), w[k]))
    assert not bad, bad[:10]
