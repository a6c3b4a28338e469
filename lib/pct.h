/* pct: percent-decoding (RFC 3986 section 2.1), shared by the IMAP URLs of
 * the connectors and the SIP URI parameters of the SIP worker. Pure. */
#ifndef PNA_PCT_H
#define PNA_PCT_H

#include <stddef.h>

/* The value of one hex digit (either case), or -1. */
int pct_hexval(int c);

/* Decode s[0..len) into out (cap bytes, NUL-terminated). Returns the decoded
 * length, or -EINVAL for a malformed or %00 escape or when out is too
 * small. */
int pct_decode(const char *s, size_t len, char *out, size_t cap);

#endif
