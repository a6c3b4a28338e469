/* test_pna_json: JSON notification lines (Cyrus, Dovecot, pnad's direct
 * form) into pna.Event, and the lines that must be refused. */
#include <errno.h>
#include <string.h>

#include "connectors/pna_json.h"
#include "lib/arena.h"
#include "tests/unit/check.h"

static struct arena *A;

static int parse(const char *line, Pna__Event *ev, const char **why)
{
	arena_reset(A);
	*why = NULL;
	return pna_json_event(line, strlen(line), A, ev, why);
}

static const char *param(const Pna__Event *ev, const char *name)
{
	for (size_t i = 0; i < ev->n_params; i++)
		if (strcmp(ev->params[i]->name, name) == 0)
			return (const char *)ev->params[i]->value.data;
	return NULL;
}

/* PROTOCOLS.md 2.1, the Cyrus FlagsSet example. */
static void test_cyrus_flagsset(void)
{
	Pna__Event ev;
	const char *why;
	const char *line =
		"{\"event\":\"FlagsSet\",\"flagNames\":\"\\\\Flagged\",\"messages\":1,"
		"\"modseq\":42,\"pid\":7649,\"service\":\"imap\","
		"\"timestamp\":\"2015-02-23T14:50:21.858+01:00\",\"uidnext\":4,\"uidset\":\"3\","
		"\"uri\":\"imap://john@example.org@imap.example.org/INBOX;UIDVALIDITY=1424683682\","
		"\"user\":\"john@example.org\",\"vnd.cmu.midset\":[\"<4d96@example.org>\"],"
		"\"vnd.cmu.sessionId\":\"imap.example.org-7649-1\",\"vnd.cmu.unseenMessages\":0}\n";

	CHECK_EQ(parse(line, &ev, &why), 0);
	CHECK_EQ(ev.type, PNA__EVENT_TYPE__FLAGS_SET);
	CHECK_STR(ev.account, "john@example.org");
	CHECK_STR(ev.mailbox, "INBOX");
	CHECK(ev.has_uidvalidity && ev.uidvalidity == 1424683682u);
	CHECK(!ev.has_uid);
	CHECK_STR(ev.flag_names, "\\Flagged");
	CHECK(ev.has_messages && ev.messages == 1);
	CHECK(ev.has_unseen && ev.unseen == 0);
	CHECK(ev.has_uidnext && ev.uidnext == 4);
	CHECK(ev.has_modseq && ev.modseq == 42);
	CHECK(ev.has_pid && ev.pid == 7649);
	CHECK_STR(ev.uidset, "3");
	CHECK_STR(ev.service, "imap");
	CHECK_STR(ev.user, "john@example.org");
	CHECK_STR(ev.timestamp, "2015-02-23T14:50:21.858+01:00");
	CHECK_STR(ev.uri, "imap://john@example.org@imap.example.org/INBOX;UIDVALIDITY=1424683682");
	CHECK_EQ(ev.n_params, 2);
	CHECK_STR(param(&ev, "vnd.cmu.midset"), "[\"<4d96@example.org>\"]");
	CHECK_STR(param(&ev, "vnd.cmu.sessionId"), "imap.example.org-7649-1");
}

static void test_cyrus_login(void)
{
	Pna__Event ev;
	const char *why;
	const char *line =
		"{\"event\":\"Login\",\"clientIP\":\"::1\",\"clientPort\":46461,\"pid\":7629,"
		"\"serverDomain\":\"::1\",\"serverPort\":143,\"service\":\"imap\","
		"\"timestamp\":\"2015-02-23T14:47:36.097+01:00\",\"uri\":\"imap://"
		"imap.example.org\","
		"\"user\":\"john@example.org\"}";

	CHECK_EQ(parse(line, &ev, &why), 0);
	CHECK_EQ(ev.type, PNA__EVENT_TYPE__LOGIN);
	CHECK_STR(ev.account, "john@example.org");
	CHECK(ev.mailbox == NULL);
	CHECK_STR(ev.client_ip, "::1");
	CHECK(ev.has_client_port && ev.client_port == 46461);
	CHECK_STR(ev.server_domain, "::1");
	CHECK(ev.has_server_port && ev.server_port == 143);
	CHECK_EQ(ev.n_params, 0);
}

static void test_cyrus_copy(void)
{
	Pna__Event ev;
	const char *why;
	const char *line = "{\"event\":\"vnd.cmu.MessageCopy\",\"messages\":1,"
			   "\"oldMailboxID\":\"imap://john@example.org@imap.example.org/"
			   "Sent;UIDVALIDITY=1424683683\","
			   "\"uidset\":\"4\","
			   "\"uri\":\"imap://john@example.org@imap.example.org/"
			   "Archive;UIDVALIDITY=1424683684\","
			   "\"vnd.cmu.oldUidset\":\"2\"}";

	CHECK_EQ(parse(line, &ev, &why), 0);
	CHECK_EQ(ev.type, PNA__EVENT_TYPE__MESSAGE_APPEND);
	CHECK_STR(ev.account, "john@example.org");
	CHECK_STR(ev.mailbox, "Archive");
	CHECK_STR(ev.old_mailbox, "Sent");
	CHECK(ev.has_uidvalidity && ev.uidvalidity == 1424683684u);
	CHECK_STR(ev.uidset, "4");
	CHECK_STR(param(&ev, "vnd.cmu.oldUidset"), "2");
}

static void test_message_new_uid(void)
{
	Pna__Event ev;
	const char *why;

	CHECK_EQ(parse("{\"event\":\"MessageNew\",\"uri\":\"imap://"
		       "john@Example.ORG@imap.example.org/"
		       "inbox/My%20Work;UIDVALIDITY=7/;UID=3\",\"messageSize\":\"1234\","
		       "\"vnd.cmu.unseenMessages\":\"5\",\"spam\":false}",
		       &ev, &why),
		 0);
	CHECK_EQ(ev.type, PNA__EVENT_TYPE__MESSAGE_NEW);
	CHECK_STR(ev.account, "john@example.org");
	CHECK_STR(ev.mailbox, "INBOX/My Work");
	CHECK(ev.has_uidvalidity && ev.uidvalidity == 7);
	CHECK(ev.has_uid && ev.uid == 3);
	CHECK(ev.has_message_size && ev.message_size == 1234);
	CHECK(ev.has_unseen && ev.unseen == 5);
	CHECK(ev.has_spam && !ev.spam);

	/* No UIDVALIDITY, ;AUTH= in the user, escaped '@', UTF-8 name. */
	CHECK_EQ(parse("{\"event\":\"MessageAppend\",\"uri\":\"imap://"
		       "bob%40example.com;AUTH=*@h:143/"
		       "Entw%C3%BCrfe/;UID=12\"}",
		       &ev, &why),
		 0);
	CHECK_STR(ev.account, "bob@example.com");
	CHECK_STR(ev.mailbox, "Entw\xc3\xbcrfe");
	CHECK(!ev.has_uidvalidity);
	CHECK(ev.has_uid && ev.uid == 12);

	/* The direct fields win over the URL. */
	CHECK_EQ(parse("{\"event\":\"MessageNew\",\"uid\":9,\"mailbox\":\"Other\","
		       "\"uri\":\"imap://a@b.c@h/INBOX;UIDVALIDITY=1/;UID=3\"}",
		       &ev, &why),
		 0);
	CHECK_STR(ev.mailbox, "Other");
	CHECK(ev.has_uid && ev.uid == 9);
	CHECK(ev.has_uidvalidity && ev.uidvalidity == 1);
}

static void test_direct_form(void)
{
	Pna__Event ev;
	const char *why;

	CHECK_EQ(
		parse("  {\"event\":\"MailboxRename\",\"account\":\"alice@Example.COM\","
		      "\"mailbox\":\"Work/2026\",\"oldMailbox\":\"Work/2025\",\"uidvalidity\":5,"
		      "\"flagNames\":[\"\\\\Seen\",\"$Junk\"],\"tags\":[\"a\",\"b\"],"
		      "\"modseq\":9223372036854775807,\"x-thing\":{\"k\":1},\"nothing\":null} \r\n",
		      &ev, &why),
		0);
	CHECK_EQ(ev.type, PNA__EVENT_TYPE__MAILBOX_RENAME);
	CHECK_STR(ev.account, "alice@example.com");
	CHECK_STR(ev.mailbox, "Work/2026");
	CHECK_STR(ev.old_mailbox, "Work/2025");
	CHECK(ev.has_uidvalidity && ev.uidvalidity == 5);
	CHECK_STR(ev.flag_names, "\\Seen $Junk");
	CHECK_STR(ev.tags, "a,b");
	CHECK(ev.has_modseq && ev.modseq == 9223372036854775807ull);
	CHECK_EQ(ev.n_params, 1);
	CHECK_STR(param(&ev, "x-thing"), "{\"k\":1}");

	CHECK_EQ(parse("{\"event\":\"SieveNotify\",\"account\":\"a@b.c\",\"target\":\"xmpp:a@b.c\","
		       "\"text\":\"hi\"}",
		       &ev, &why),
		 0);
	CHECK_EQ(ev.type, PNA__EVENT_TYPE__SIEVE_NOTIFY);
	CHECK_STR(ev.target, "xmpp:a@b.c");
	CHECK_STR(ev.text, "hi");
}

static void test_dovecot(void)
{
	Pna__Event ev;
	const char *why;

	CHECK_EQ(parse("{\"event\":\"MailboxUnsubscribe\",\"account\":\"a@b.c\",\"mailbox\":\"X\"}",
		       &ev, &why),
		 0);
	CHECK_EQ(ev.type, PNA__EVENT_TYPE__MAILBOX_UNSUBSCRIBE);
	/* The ox driver's body (PROTOCOLS.md 2.2). */
	CHECK_EQ(parse("{\"user\":\"4@464646669\",\"event\":\"messageNew\",\"folder\":\"INBOX\","
		       "\"imap-uidvalidity\":123412341,\"imap-uid\":2345,\"from\":\"alice@barfoo."
		       "org\","
		       "\"subject\":\"Test\",\"snippet\":\"Hey guys...\",\"unseen\":2}",
		       &ev, &why),
		 0);
	CHECK_EQ(ev.type, PNA__EVENT_TYPE__MESSAGE_NEW);
	CHECK_STR(ev.account, "4@464646669");
	CHECK_STR(ev.mailbox, "INBOX");
	CHECK(ev.has_uidvalidity && ev.uidvalidity == 123412341);
	CHECK(ev.has_uid && ev.uid == 2345);
	CHECK(ev.has_unseen && ev.unseen == 2);
	CHECK_STR(param(&ev, "subject"), "Test");
}

static void expect(const char *line, int err)
{
	Pna__Event ev;
	const char *why = NULL;
	int rc = parse(line, &ev, &why);

	CHECK_EQ(rc, err);
	CHECK(why != NULL);
	if (rc != err)
		fprintf(stderr, "  line: %s -> %s\n", line, why ? why : "(none)");
}

static void test_refused(void)
{
	Pna__Event ev;
	const char *why;

	expect("", -EBADMSG);
	expect("{\"event\":\"MessageNew\"", -EBADMSG);
	expect("{\"event\":\"Login\",\"user\":\"a@b.c\"} x", -EBADMSG);
	expect("{\"event\":\"Login\",\"user\":\"a@b.c\"}{}", -EBADMSG);
	expect("[1,2]", -EBADMSG);
	expect("\"event\"", -EBADMSG);
	expect("{\"event\":\"Login\",\"user\":\"a\xff@b.c\"}", -EBADMSG);
	expect("{\"event\":3,\"user\":\"a@b.c\"}", -EBADMSG);
	expect("{\"event\":\"Login\",\"user\":5}", -EBADMSG);
	expect("{\"event\":\"Login\",\"user\":\"a@b.c\",\"pid\":-1}", -EBADMSG);
	expect("{\"event\":\"Login\",\"user\":\"a@b.c\",\"pid\":4294967296}", -EBADMSG);
	expect("{\"event\":\"Login\",\"user\":\"a@b.c\",\"pid\":\"12x\"}", -EBADMSG);
	expect("{\"event\":\"Login\",\"user\":\"a@b.c\",\"pid\":1.5}", -EBADMSG);
	expect("{\"event\":\"Login\",\"user\":\"a@b.c\",\"serverPort\":65536}", -EBADMSG);
	expect("{\"event\":\"Login\",\"user\":\"a@b.c\",\"modseq\":18446744073709551615}",
	       -EBADMSG);
	expect("{\"event\":\"Login\",\"user\":\"a@b.c\",\"modseq\":99999999999999999999999}",
	       -EBADMSG);
	expect("{\"event\":\"Login\",\"user\":\"a@b.c\",\"spam\":\"maybe\"}", -EBADMSG);
	expect("{\"event\":\"Login\",\"user\":\"a@b.c\",\"flagNames\":[1]}", -EBADMSG);
	expect("{\"event\":\"Login\",\"user\":\"a\\u0000@b.c\"}", -EBADMSG);
	expect("{\"event\":\"MessageNew\",\"uri\":\"imap://a@b.c@h/INBOX;UIDVALIDITY=x\"}",
	       -EBADMSG);
	expect("{\"event\":\"MessageNew\",\"uri\":\"imap://a@b.c@h/INBOX;UIDVALIDITY=1/"
	       ";UID=99999999999\"}",
	       -EBADMSG);
	expect("{\"event\":\"MessageNew\",\"uri\":\"imap://a@b.c@h/IN%2\"}", -EBADMSG);
	expect("{\"event\":\"MessageNew\",\"uri\":\"imap://a@b.c@h/IN%00BOX\"}", -EBADMSG);
	expect("{\"event\":\"MessageNew\",\"uri\":\"imap://a@b.c@h/IN%FFBOX\"}", -EBADMSG);
	expect("{\"event\":\"MessageNew\",\"uri\":\"imap://a@b.c@h/INBOX;junk\"}", -EBADMSG);
	expect("{\"user\":\"a@b.c\"}", -EINVAL);
	expect("{\"event\":\"MailboxModseq\",\"user\":\"a@b.c\"}", -EINVAL);
	expect("{\"event\":\"Unknown\",\"user\":\"a@b.c\"}", -EINVAL);
	expect("{\"event\":\"Login\"}", -EINVAL);
	expect("{\"event\":\"Login\",\"user\":\"alice\"}", -EINVAL);
	expect("{\"event\":\"MessageNew\",\"account\":\"a@b.c\"}", -EINVAL);
	expect("{\"event\":\"MessageNew\",\"uri\":\"imap://h/INBOX\"}", -EINVAL);
	expect("{\"event\":\"MailboxRename\",\"account\":\"a@b.c\",\"mailbox\":\"X\"}", -EINVAL);
	expect("{\"event\":\"MailboxCreate\",\"account\":\"a@b.c\",\"mailbox\":\"X//Y\"}", -EINVAL);
	expect("{\"event\":\"SieveNotify\",\"account\":\"a@b.c\",\"text\":\"hi\"}", -EINVAL);
	expect("{\"event\":\"MessageExpunge\",\"account\":\"a@b.c\",\"mailbox\":\"X\","
	       "\"uidset\":\"1:0\"}",
	       -EBADMSG);
	expect("{\"event\":\"MessageExpunge\",\"account\":\"a@b.c\",\"mailbox\":\"X\","
	       "\"uidset\":\"\"}",
	       -EBADMSG);
	/* Depth is bounded. */
	expect("{\"event\":\"Login\",\"user\":\"a@b.c\",\"x\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]"
	       "]]]}",
	       -EBADMSG);

	/* Lenient where stores differ: numbers as strings or integral
	 * doubles, a non-IMAP uri left alone, the user as the account. */
	CHECK_EQ(parse("{\"event\":\"QuotaChange\",\"user\":\"a@b.c\",\"diskQuota\":1e3,"
		       "\"uri\":\"pop://h\",\"spam\":1}",
		       &ev, &why),
		 0);
	CHECK(ev.has_disk_quota && ev.disk_quota == 1000);
	CHECK_STR(ev.account, "a@b.c");
	CHECK(ev.has_spam && ev.spam);
}

int main(void)
{
	A = arena_create(4096);
	test_cyrus_flagsset();
	test_cyrus_login();
	test_cyrus_copy();
	test_message_new_uid();
	test_direct_form();
	test_dovecot();
	test_refused();
	arena_destroy(A);
	return check_summary();
}
