/* sip_main: the SIP egress worker process (placeholder while it is being
 * written: the supervisor only forks it when the config enables it). */
#include "lib/log.h"
#include "pnad/pnad_rt.h"

int sip_main(struct pnad_rt *rt)
{
	(void)rt;
	pnad_child_signals();
	log_error("the SIP worker is not built yet");
	return 1;
}
