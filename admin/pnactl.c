/* pnactl: the operator's command line, a client of pnad's HTTP/2 admin API.
 * `mailbox`, `account`, `shard-of` and `stats` print "key value" lines (the
 * format scripts and tests parse); `sub ...` and `grant ...` print JSON. */
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin_client.h"
#include "pnad/pnad_conf.h"

#define TIMEOUT_MS 30000
#define PATH_MAX_LEN 4096

enum { EXIT_REPLY = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

enum output { OUT_MAILBOX, OUT_ACCOUNT, OUT_SHARD_OF, OUT_FLAT, OUT_JSON };

struct cmd {
	const char *method;
	char path[PATH_MAX_LEN];
	char *body; /* malloc'd JSON, or NULL */
	enum output out;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: pnactl [-a HOST:PORT] [-T TOKEN] [-c CONFIG] COMMAND [ARG...]\n"
		"  mailbox ACCOUNT/PATH         state and owning shard of a mailbox\n"
		"  account ACCOUNT              every mailbox of an account\n"
		"  shard-of ACCOUNT             the shard the hash assigns\n"
		"  stats                        router, store, shard and subscription counters\n"
		"  sub add FIELD=VALUE...|JSON  create a subscription: transport=sip|xmpp\n"
		"                               subscriber= mailbox=ACCOUNT[/PATH]\n"
		"                               [depth=exact|subtree] [events=MessageNew,...]\n"
		"                               [expires=SECONDS] [heartbeat=SECONDS] [target=]\n"
		"  sub list subscriber=X | mailbox=ACCOUNT/PATH | account=ACCOUNT\n"
		"  sub get ID | sub del ID      ID as the API gives it: <shard>-<id>\n"
		"  grant add account=A [path=P] grantee=G [rights=subscribe] | JSON\n"
		"  grant del account=A [path=P] grantee=G\n"
		"  grant list ACCOUNT\n"
		"  sip-cred set USER@REALM password=P|-  SIP digest credential (-: read P\n"
		"                               from stdin); or ha1_sha256=H [ha1_md5=H]\n"
		"  sip-cred del USER@REALM | sip-cred list\n"
		"The API address is -a, else admin_listen of -c CONFIG, else $PNA_ADMIN,\n"
		"else 127.0.0.1:7680; the token -T, else admin_token of -c, else $PNA_TOKEN.\n"
		"Exit status: 0 ok, 1 pnad answered with an error, 2 usage, 3 unreachable.\n");
}

static bool is_int_field(const char *k)
{
	return !strcmp(k, "expires") || !strcmp(k, "heartbeat");
}

static bool is_list_field(const char *k)
{
	return !strcmp(k, "events") || !strcmp(k, "rights");
}

/* FIELD=VALUE arguments (or one JSON argument) as a JSON body. */
static char *body_of(int argc, char **argv)
{
	struct json_object *o;
	char *out;

	if (argc == 1 && argv[0][0] == '{')
		return strdup(argv[0]);
	o = json_object_new_object();
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		struct json_object *v;

		if (!eq || eq == argv[i]) {
			fprintf(stderr, "pnactl: expected FIELD=VALUE, got '%s'\n", argv[i]);
			exit(EXIT_USAGE);
		}
		*eq = '\0';
		if (is_int_field(argv[i])) {
			char *end;
			long long n = strtoll(eq + 1, &end, 10);

			v = *end || end == eq + 1 ? json_object_new_string(eq + 1)
						  : json_object_new_int64(n);
		} else if (is_list_field(argv[i])) {
			v = json_object_new_array();
			for (char *t = strtok(eq + 1, ","); t; t = strtok(NULL, ","))
				json_object_array_add(v, json_object_new_string(t));
		} else {
			v = json_object_new_string(eq + 1);
		}
		json_object_object_add(o, argv[i], v);
	}
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return out;
}

/* path = prefix + encoded arg (+ suffix). */
static void set_path(struct cmd *c, const char *prefix, const char *arg, const char *keep)
{
	snprintf(c->path, sizeof(c->path), "%s", prefix);
	if (arg && admin_client_encode(arg, keep, c->path, sizeof(c->path)) < 0) {
		fprintf(stderr, "pnactl: argument too long\n");
		exit(EXIT_USAGE);
	}
}

/* FIELD=VALUE arguments as a query string appended to c->path. */
static void set_query(struct cmd *c, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq) {
			fprintf(stderr, "pnactl: expected FIELD=VALUE, got '%s'\n", argv[i]);
			exit(EXIT_USAGE);
		}
		strncat(c->path, i ? "&" : "?", sizeof(c->path) - strlen(c->path) - 1);
		*eq = '\0';
		if (admin_client_encode(argv[i], "", c->path, sizeof(c->path)) < 0 ||
		    admin_client_encode("=", "=", c->path, sizeof(c->path)) < 0 ||
		    admin_client_encode(eq + 1, "@", c->path, sizeof(c->path)) < 0) {
			fprintf(stderr, "pnactl: arguments too long\n");
			exit(EXIT_USAGE);
		}
	}
}

static bool parse_sub(struct cmd *c, int argc, char **argv)
{
	const char *verb = argc > 0 ? argv[0] : "";

	c->out = OUT_JSON;
	if (!strcmp(verb, "add") && argc >= 2) {
		c->method = "POST";
		set_path(c, "/v1/subscriptions", NULL, "");
		c->body = body_of(argc - 1, argv + 1);
	} else if (!strcmp(verb, "list") && argc == 2) {
		c->method = "GET";
		set_path(c, "/v1/subscriptions", NULL, "");
		set_query(c, 1, argv + 1);
	} else if ((!strcmp(verb, "get") || !strcmp(verb, "del")) && argc == 2) {
		c->method = verb[0] == 'g' ? "GET" : "DELETE";
		set_path(c, "/v1/subscriptions/", argv[1], "");
	} else {
		return false;
	}
	return true;
}

static bool parse_grant(struct cmd *c, int argc, char **argv)
{
	const char *verb = argc > 0 ? argv[0] : "";

	c->out = OUT_JSON;
	set_path(c, "/v1/grants", NULL, "");
	if (!strcmp(verb, "add") && argc >= 2) {
		c->method = "POST";
		c->body = body_of(argc - 1, argv + 1);
	} else if (!strcmp(verb, "del") && argc >= 2) {
		c->method = "DELETE";
		set_query(c, argc - 1, argv + 1);
	} else if (!strcmp(verb, "list") && argc == 2) {
		char q[512], *qv[1] = { q };

		c->method = "GET";
		snprintf(q, sizeof(q), "%s%s", strchr(argv[1], '=') ? "" : "account=", argv[1]);
		set_query(c, 1, qv);
	} else {
		return false;
	}
	return true;
}

/* password=- reads the password from stdin (one line), so it stays out of
 * the process list and the shell history. */
static void password_from_stdin(int argc, char **argv)
{
	static char line[300];

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "password=-") != 0)
			continue;
		snprintf(line, sizeof(line), "password=");
		if (!fgets(line + 9, (int)sizeof(line) - 9, stdin)) {
			fprintf(stderr, "pnactl: no password on stdin\n");
			exit(EXIT_USAGE);
		}
		line[strcspn(line, "\r\n")] = '\0';
		argv[i] = line;
	}
}

static bool parse_sip_cred(struct cmd *c, int argc, char **argv)
{
	const char *verb = argc > 0 ? argv[0] : "";

	c->out = OUT_JSON;
	if (!strcmp(verb, "set") && argc >= 3) {
		c->method = "PUT";
		set_path(c, "/v1/sip/credentials/", argv[1], "@");
		password_from_stdin(argc - 2, argv + 2);
		c->body = body_of(argc - 2, argv + 2);
	} else if (!strcmp(verb, "del") && argc == 2) {
		c->method = "DELETE";
		set_path(c, "/v1/sip/credentials/", argv[1], "@");
	} else if (!strcmp(verb, "list") && argc == 1) {
		c->method = "GET";
		set_path(c, "/v1/sip/credentials", NULL, "");
	} else {
		return false;
	}
	return true;
}

static bool parse_cmd(struct cmd *c, int argc, char **argv)
{
	const char *name = argv[0];

	c->method = "GET";
	if (!strcmp(name, "mailbox") && argc == 2) {
		c->out = OUT_MAILBOX;
		set_path(c, "/v1/mailboxes/", argv[1], "@/");
	} else if (!strcmp(name, "account") && argc == 2) {
		c->out = OUT_ACCOUNT;
		set_path(c, "/v1/accounts/", argv[1], "@");
	} else if (!strcmp(name, "shard-of") && argc == 2) {
		c->out = OUT_SHARD_OF;
		set_path(c, "/v1/shards?account=", argv[1], "@");
	} else if (!strcmp(name, "stats") && argc == 1) {
		c->out = OUT_FLAT;
		set_path(c, "/v1/stats", NULL, "");
	} else if (!strcmp(name, "sub")) {
		return parse_sub(c, argc - 1, argv + 1);
	} else if (!strcmp(name, "grant")) {
		return parse_grant(c, argc - 1, argv + 1);
	} else if (!strcmp(name, "sip-cred")) {
		return parse_sip_cred(c, argc - 1, argv + 1);
	} else {
		return false;
	}
	return true;
}

static const char *str(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

/* "a.b.0.c value" lines: nested keys joined with '.', array items by index. */
static void print_flat(const char *prefix, struct json_object *o)
{
	char key[512];

	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v)
		{
			snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "", k);
			print_flat(key, v);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			snprintf(key, sizeof(key), "%s%s%zu", prefix, *prefix ? "." : "", i);
			print_flat(key, json_object_array_get_idx(o, i));
		}
	} else {
		printf("%s %s\n", prefix, o ? json_object_get_string(o) : "");
	}
}

static void print_mailbox(struct json_object *o)
{
	static const char *const keys[] = { "uidvalidity", "uidnext", "messages",  "unseen",
					    "modseq",	   "events",  "last_event" };
	struct json_object *on;

	printf("mailbox %s\nowner_shard %s\n", str(o, "mailbox"), str(o, "owner_shard"));
	if (json_object_object_get_ex(o, "shards", &on))
		for (size_t i = 0; i < json_object_array_length(on); i++)
			printf("shard %s\n",
			       json_object_get_string(json_object_array_get_idx(on, i)));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		printf("%s %s\n", keys[i], str(o, keys[i]));
}

static void print_account(struct json_object *o)
{
	struct json_object *list;
	size_t n = 0;

	printf("account %s\nowner_shard %s\n", str(o, "account"), str(o, "owner_shard"));
	if (json_object_object_get_ex(o, "mailboxes", &list))
		n = json_object_array_length(list);
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(list, i);

		printf("mailbox %s shard=%s messages=%s unseen=%s uidnext=%s uidvalidity=%s "
		       "events=%s\n",
		       str(m, "path"), str(m, "shard"), str(m, "messages"), str(m, "unseen"),
		       str(m, "uidnext"), str(m, "uidvalidity"), str(m, "events"));
	}
	printf("mailboxes %zu\n", n);
}

static int print_reply(const struct cmd *c, const struct admin_client_resp *r)
{
	struct json_object *o = r->len ? json_tokener_parse(r->body) : NULL;
	int rc = 0;

	if (r->status >= 300) {
		struct json_object *e;

		if (o && json_object_object_get_ex(o, "error", &e))
			fprintf(stderr, "pnactl: %s\n", json_object_get_string(e));
		else
			fprintf(stderr, "pnactl: HTTP status %d\n", r->status);
		rc = EXIT_REPLY;
	} else if (c->out == OUT_JSON) {
		if (o)
			printf("%s\n", json_object_to_json_string_ext(
					       o, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	} else if (!o) {
		fprintf(stderr, "pnactl: the API answered something that is not JSON\n");
		rc = EXIT_REPLY;
	} else if (c->out == OUT_MAILBOX) {
		print_mailbox(o);
	} else if (c->out == OUT_ACCOUNT) {
		print_account(o);
	} else if (c->out == OUT_SHARD_OF) {
		printf("owner_shard %s\n", str(o, "owner_shard"));
	} else {
		print_flat("", o);
	}
	json_object_put(o);
	return rc;
}

/* -c: admin_listen and admin_token of pnad's configuration. */
static void from_config(const char *path, const char **addr, const char **token)
{
	static struct pnad_conf conf;
	char err[512];

	if (pnad_conf_load(path, &conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "pnactl: %s\n", err);
		exit(EXIT_USAGE);
	}
	if (!*addr)
		*addr = conf.admin_listen;
	if (!*token)
		*token = conf.admin_token;
}

int main(int argc, char **argv)
{
	const char *addr = NULL, *token = NULL, *conf_path = NULL;
	struct cmd c = { 0 };
	struct admin_client_resp r;
	char err[512];
	int opt, rc;

	while ((opt = getopt(argc, argv, "+a:T:c:s:h")) != -1) {
		if (opt == 'a')
			addr = optarg;
		else if (opt == 'T')
			token = optarg;
		else if (opt == 'c')
			conf_path = optarg;
		else if (opt == 's')
			fprintf(stderr, "pnactl: -s is obsolete (pnactl uses the HTTP/2 API): "
					"use -c CONFIG, or -a and -T\n");
		else {
			usage();
			return opt == 'h' ? 0 : EXIT_USAGE;
		}
	}
	if (optind >= argc || !parse_cmd(&c, argc - optind, argv + optind)) {
		usage();
		return EXIT_USAGE;
	}
	if (conf_path)
		from_config(conf_path, &addr, &token);
	addr = addr ? addr : getenv("PNA_ADMIN") ? getenv("PNA_ADMIN") : "127.0.0.1:7680";
	token = token ? token : getenv("PNA_TOKEN");
	if (admin_client_request(addr, token, c.method, c.path, c.body, TIMEOUT_MS, &r, err,
				 sizeof(err)) < 0) {
		fprintf(stderr, "pnactl: %s\n", err);
		free(c.body);
		return EXIT_UNREACHABLE;
	}
	rc = print_reply(&c, &r);
	free(r.body);
	free(c.body);
	return rc;
}
