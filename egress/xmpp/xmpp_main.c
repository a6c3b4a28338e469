/* xmpp_main: the XMPP egress worker process (placeholder while it is being
 * written: the supervisor only forks it when the config enables it). */
#include "lib/log.h"
#include "pnad/pnad_rt.h"

int xmpp_main(struct pnad_rt *rt)
{
	(void)rt;
	pnad_child_signals();
	log_error("the XMPP worker is not built yet");
	return 1;
}
