/* xmpp_stream: the XEP-0114 component stream's XML side, run by the XMPP
 * worker: expat parses the server's stream (namespaces on, restricted XML of
 * RFC 6120 11.1: no DTD, comments or processing instructions), each depth-1
 * element is built into an xmpp_stanza DOM in a bounded pool and handed to
 * a callback, then forgotten. Also the handshake digest. No I/O. */
#ifndef PNA_XMPP_STREAM_H
#define PNA_XMPP_STREAM_H

#include <stddef.h>

#include "egress/xmpp/xmpp_stanza.h"

#define XMPP_NS_STREAMS "http://etherx.jabber.org/streams"
#define XMPP_MAX_DEPTH 24 /* element depth inside a stanza */

struct xmpp_stream_cb {
	/* The server's stream header; id is its stream id ("" if none). */
	void (*header)(void *arg, const char *id);
	/* A complete depth-1 element (stanza, <handshake/>, <stream:error>).
	 * st and everything under it is valid during the call only. */
	void (*stanza)(void *arg, const struct xmpp_el *st);
	void *arg;
};

struct xmpp_stream;

/* A parser whose stanzas may take up to max_stanza bytes of DOM. 0 and *out
 * (caller owns; xmpp_stream_close), or -ENOMEM. */
int xmpp_stream_open(size_t max_stanza, const struct xmpp_stream_cb *cb, struct xmpp_stream **out);
void xmpp_stream_close(struct xmpp_stream *s); /* accepts NULL */
/* Forget everything: a new stream starts (a new connection). 0 or -ENOMEM. */
int xmpp_stream_reset(struct xmpp_stream *s);

/* Parse len bytes. 0; -EBADMSG with *why (malformed or restricted XML, a
 * stanza too large or too deep: the stream must be closed, with the stream
 * error condition in *cond); -EPIPE when the server closed its stream. */
int xmpp_stream_feed(struct xmpp_stream *s, const char *buf, size_t len, const char **cond,
		     const char **why);

/* hex(SHA-1(id || secret)) (XEP-0114 section 3), NUL-terminated. */
void xmpp_stream_handshake(const char *id, const char *secret, char hex[41]);

#endif
