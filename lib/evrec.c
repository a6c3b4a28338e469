/* evrec: event-type names, shared by pnactl, the feeder and the egress. */
#include "evrec.h"

#include <strings.h>

static const char *const type_names[] = {
	"Unknown",	  "MessageNew",	      "MessageAppend",	    "MessageExpire",
	"MessageExpunge", "MessageRead",      "MessageTrash",	    "FlagsSet",
	"FlagsClear",	  "QuotaExceed",      "QuotaWithin",	    "QuotaChange",
	"Login",	  "Logout",	      "MailboxCreate",	    "MailboxDelete",
	"MailboxRename",  "MailboxSubscribe", "MailboxUnSubscribe", "SieveNotify",
};

#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))

const char *evrec_type_name(unsigned type)
{
	return type < NTYPES ? type_names[type] : "Unknown";
}

int evrec_type_parse(const char *name)
{
	/* Case-insensitive: Dovecot sends "MailboxUnsubscribe" and its ox
	 * driver "messageNew" (PROTOCOLS.md section 2.2). */
	for (unsigned i = 1; i < NTYPES; i++)
		if (strcasecmp(name, type_names[i]) == 0)
			return (int)i;
	return -1;
}
