/* pnactl: the operator's command line. Sends one request to pnad's control
 * socket and prints the reply: `pnactl mailbox alice@example.com/INBOX`,
 * `pnactl account alice@example.com`, `pnactl stats`, `pnactl shard-of A`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pnad/pnad_conf.h"

static void usage(void)
{
	fprintf(stderr, "usage: pnactl [-s SOCKET | -c CONFIG] COMMAND [ARG]\n"
			"  mailbox ACCOUNT/PATH   state and owning shard of a mailbox\n"
			"  account ACCOUNT        every mailbox of an account\n"
			"  shard-of ACCOUNT       the shard the hash assigns\n"
			"  stats                  router, store and shard counters\n"
			"The socket defaults to $PNA_CONTROL, else /tmp/pnad.ctl.\n");
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Read the whole reply into a malloc'd string (caller frees). */
static char *read_all(int fd)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	ssize_t r;

	if (!buf)
		abort();
	while ((r = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
	}
	buf[len] = '\0';
	return buf;
}

static const char *socket_path(const char *sock, const char *conf_path)
{
	static struct pnad_conf conf;
	char err[512];

	if (sock)
		return sock;
	if (conf_path) {
		if (pnad_conf_load(conf_path, &conf, err, sizeof(err)) < 0) {
			fprintf(stderr, "pnactl: %s\n", err);
			exit(2);
		}
		return conf.control;
	}
	return getenv("PNA_CONTROL") ? getenv("PNA_CONTROL") : "/tmp/pnad.ctl";
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *conf_path = NULL, *path;
	char req[512];
	char *reply, *body;
	int opt, fd, n, rc;

	while ((opt = getopt(argc, argv, "+s:c:h")) != -1) {
		if (opt == 's')
			sock = optarg;
		else if (opt == 'c')
			conf_path = optarg;
		else {
			usage();
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind >= argc) {
		usage();
		return 2;
	}
	n = snprintf(req, sizeof(req), "%s%s%s\n", argv[optind], optind + 1 < argc ? " " : "",
		     optind + 1 < argc ? argv[optind + 1] : "");
	if (n >= (int)sizeof(req)) {
		fprintf(stderr, "pnactl: request too long\n");
		return 2;
	}
	path = socket_path(sock, conf_path);
	fd = ctl_connect(path);
	if (fd < 0) {
		fprintf(stderr, "pnactl: cannot reach pnad at %s: %s\n", path, strerror(-fd));
		return 3;
	}
	if (write(fd, req, (size_t)n) != n) {
		fprintf(stderr, "pnactl: write: %s\n", strerror(errno));
		close(fd);
		return 3;
	}
	reply = read_all(fd);
	close(fd);
	body = strchr(reply, '\n');
	body = body ? body + 1 : reply + strlen(reply);
	if (strncmp(reply, "ok\n", 3) == 0) {
		fputs(body, stdout);
		rc = 0;
	} else {
		fprintf(stderr, "pnactl: %s", strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply);
		rc = 1;
	}
	free(reply);
	return rc;
}
