/* xmpp_seg: creation of the XMPP worker's counter segment, run by the XMPP
 * worker at start. */
#include "egress/xmpp/xmpp_seg.h"

int xmpp_seg_open(const char *name, struct shm_seg *out)
{
	int rc = shm_seg_open(name, XMPP_SEG_KIND, sizeof(struct xmpp_seg), out);

	if (rc < 0)
		return rc;
	if (out->created)
		shm_seg_ready(out);
	return 0;
}
