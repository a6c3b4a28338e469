/* evrec: the routed-event record the router writes into a shard's ring and
 * the shard reads in place. Fixed-width fields, then the strings back to
 * back, each NUL-terminated; names are already canonical (lib/names). */
#ifndef PNA_EVREC_H
#define PNA_EVREC_H

#include <stddef.h>
#include <stdint.h>

enum evrec_str {
	EVREC_ACCOUNT = 0,
	EVREC_PATH,	/* the mailbox; for a rename, the new name */
	EVREC_OLD_PATH, /* MailboxRename: the old name */
	EVREC_UIDSET,
	EVREC_FLAGS,
	EVREC_TARGET, /* SIEVE_NOTIFY recipient */
	EVREC_TEXT,   /* SIEVE_NOTIFY text */
	EVREC_NSTR
};

enum {
	EVREC_HAS_UIDVALIDITY = 1u << 0,
	EVREC_HAS_UIDNEXT = 1u << 1,
	EVREC_HAS_MESSAGES = 1u << 2,
	EVREC_HAS_UNSEEN = 1u << 3,
	EVREC_HAS_UID = 1u << 4,
	EVREC_SPAM = 1u << 5,
};

struct evrec {
	uint64_t store_key; /* hash64 of the store id; 0 = no duplicate check */
	uint64_t store_seq; /* the mail store's sequence number */
	uint64_t modseq;
	uint32_t uidvalidity;
	uint32_t uid;
	uint32_t uidnext;
	uint32_t messages;
	uint32_t unseen;
	uint16_t store;		  /* index of the store in the config */
	uint8_t type;		  /* enum _Pna__EventType */
	uint8_t flags;		  /* EVREC_HAS_* */
	uint16_t len[EVREC_NSTR]; /* string lengths without the NUL */
	char str[];
};

/* Bytes of a record whose strings have the lengths in len[]. */
static inline size_t evrec_size(const uint16_t len[EVREC_NSTR])
{
	size_t n = sizeof(struct evrec);

	for (int i = 0; i < EVREC_NSTR; i++)
		n += (size_t)len[i] + 1;
	return n;
}

/* String `which` of `e` (NUL-terminated, possibly ""). */
static inline const char *evrec_str(const struct evrec *e, enum evrec_str which)
{
	const char *p = e->str;

	for (int i = 0; i < (int)which; i++)
		p += e->len[i] + 1;
	return p;
}

/* Writable pointer to string `which` for the producer filling a record. */
static inline char *evrec_str_mut(struct evrec *e, enum evrec_str which)
{
	return (char *)evrec_str(e, which);
}

/* RFC 5423 spelling of an event type ("MessageNew"), or "Unknown". */
const char *evrec_type_name(unsigned type);
/* Inverse of evrec_type_name, case-insensitive; -1 when unknown. */
int evrec_type_parse(const char *name);

#endif
