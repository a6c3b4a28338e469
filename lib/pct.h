/* pct: percent-decoding (RFC 3986 section 2.1), shared by the IMAP URLs of
 * the connectors, the SIP URI parameters of the SIP worker and the admin
 * API's paths and query strings. Pure. */
#ifndef PNA_PCT_H
#define PNA_PCT_H

#include <stddef.h>

/* The value of one hex digit (either case), or -1. */
int pct_hexval(int c);

/* Decode s[0..len) into out (cap bytes, NUL-terminated). Returns the
 * decoded length, -EINVAL for a malformed or %00 escape, -ENAMETOOLONG when
 * out is too small. */
int pct_decode(const char *s, size_t len, char *out, size_t cap);
/* The same for the HTML form encoding of query strings: '+' is a space. */
int pct_decode_form(const char *s, size_t len, char *out, size_t cap);

#endif
