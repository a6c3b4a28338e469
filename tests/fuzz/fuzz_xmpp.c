/* fuzz_xmpp: libFuzzer over the XMPP stanza handling (xmpp_stanza.c). The
 * input drives a DOM builder (open element from a dictionary of the names,
 * namespaces and attributes the handler looks at, attribute, text, close),
 * so the fuzzer reaches deep into pubsub, disco and bounce handling without
 * having to learn XML (the expat stream layer needs expat in the fuzz
 * link, not wired yet). Every reply must stay within its buffer
 * and be NUL-terminated. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "egress/xmpp/xmpp_stanza.h"

static const char *const names[] = {
	"jabber:component:accept|iq",
	"jabber:component:accept|message",
	"http://jabber.org/protocol/pubsub|pubsub",
	"http://jabber.org/protocol/pubsub|subscribe",
	"http://jabber.org/protocol/pubsub|unsubscribe",
	"http://jabber.org/protocol/pubsub|options",
	"http://jabber.org/protocol/pubsub|subscriptions",
	"jabber:x:data|x",
	"jabber:x:data|field",
	"jabber:x:data|value",
	"http://jabber.org/protocol/disco#info|query",
	"http://jabber.org/protocol/disco#items|query",
	"urn:xmpp:ping|ping",
	"jabber:component:accept|error",
	"urn:ietf:params:xml:ns:xmpp-stanzas|gone",
	"x",
};
static const char *const attrs[] = { "type", "from", "to", "id", "node", "jid", "subid", "var" };
static const char *const values[] = {
	"get",
	"set",
	"result",
	"error",
	"cancel",
	"alice@example.com/r",
	"alice@example.com",
	"pna.example.com",
	"alice@example.com/mail_events",
	"alice@example.com/mail_events/INBOX",
	"pubsub#subscription_depth",
	"pnad#event_types",
	"pnad#heartbeat",
	"1",
	"all",
	"MessageNew",
	"0-4294967297",
	"n-1-5-3",
	"ping-1",
	"",
};

static uint32_t shard_of(void *arg, const char *a)
{
	(void)arg;
	return (uint32_t)strlen(a) & 1;
}
static bool owner(void *arg, const char *b, const char *a)
{
	(void)arg;
	return !strcmp(b, a);
}

static int subs(void *arg, const char *subscriber, const char *account,
		int (*fn)(const struct sub_spec *s, uint32_t shard, void *a), void *a)
{
	static struct sub_spec s = { .id = 4294967297ull,
				     .transport = SUB_XMPP,
				     .account = "alice@example.com",
				     .path = "INBOX",
				     .subscriber = "alice@example.com",
				     .target = "alice@example.com" };

	(void)arg;
	if (strcmp(subscriber, s.subscriber) || (account && strcmp(account, s.account)))
		return 0;
	return fn(&s, 0, a) || fn(&s, 0, a);
}

static int mailboxes(void *arg, const char *account, int (*fn)(const char *p, void *a), void *a)
{
	(void)arg;
	(void)account;
	return fn("INBOX", a) || fn("A/<&>'\"", a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char pool_buf[16384], obuf[8192];
	static struct xmpp_result res;
	struct xmpp_pool pool = { pool_buf, sizeof(pool_buf), 0 };
	struct xmpp_out out = { obuf, sizeof(obuf), 0, false };
	struct xmpp_env env = { "pna.example.com", 1000, NULL, shard_of, owner, subs, mailboxes };
	struct xmpp_el *root = NULL, *cur = NULL;
	const char *kv[2 * 8 + 1];
	size_t i = 0;

	while (i < size) {
		uint8_t op = data[i++], n = 0;

		if ((op & 3) == 0 || !cur) { /* open an element with up to 7 attributes */
			for (unsigned k = 0; k < ((op >> 2) & 7) && i + 1 < size; k++, i += 2) {
				kv[2 * n] = attrs[data[i] % 8];
				kv[2 * n + 1] = values[data[i + 1] % 20];
				n++;
			}
			kv[2 * n] = NULL;
			cur = xmpp_el_new(&pool, cur, names[(op >> 5) % 16], kv);
			if (!cur)
				break;
			if (!root)
				root = cur;
		} else if ((op & 3) == 1) { /* text */
			size_t len = op >> 2;

			if (len > size - i)
				len = size - i;
			if (xmpp_el_text(&pool, cur, (const char *)data + i, len) < 0)
				break;
			i += len;
		} else if (cur->parent) { /* close */
			cur = cur->parent;
		}
	}
	if (!root)
		return 0;
	obuf[0] = '\0';
	xmpp_stanza_handle(&env, root, &out, &res);
	if (out.len >= out.cap || obuf[out.len] != '\0')
		__builtin_trap();
	if (res.kind == XMPP_RES_REQUEST) {
		struct sub_rep rep = { .status = -(int)(size % 14) };

		rep.spec = res.req.spec;
		out.len = 0;
		xmpp_stanza_reply(&env, &res.pend, &rep, 1, &out);
	}
	return 0;
}
