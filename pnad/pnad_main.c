/* pnad_main: `pnad -c FILE [-t]`: load and validate the configuration, then
 * run the supervisor (or, with -t, only check the file). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "pnad/pnad_conf.h"
#include "pnad/pnad_sup.h"

static void usage(void)
{
	fprintf(stderr, "usage: pnad -c FILE [-t]\n"
			"  -c FILE  configuration (see docs/operations.md)\n"
			"  -t       check the configuration and exit\n");
}

int main(int argc, char **argv)
{
	static struct pnad_conf conf;
	const char *path = NULL;
	char err[512];
	enum log_level lvl;
	int opt, check_only = 0;

	while ((opt = getopt(argc, argv, "c:th")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check_only = 1;
			break;
		default:
			usage();
			return opt == 'h' ? 0 : 2;
		}
	}
	if (!path) {
		usage();
		return 2;
	}
	if (pnad_conf_load(path, &conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "pnad: %s\n", err);
		return 2;
	}
	if (check_only) {
		printf("%s: ok\n", path);
		return 0;
	}
	log_level_parse(conf.log_level, &lvl);
	log_init("supervisor", -1, lvl);
	return pnad_sup_run(&conf);
}
