/* xmpp_stream: expat-driven parsing of the XEP-0114 stream into one DOM per
 * stanza, in a bounded pool (see xmpp_stream.h). Run by the XMPP worker. */
#include "egress/xmpp/xmpp_stream.h"

#include <errno.h>
#include <expat.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct xmpp_stream {
	XML_Parser p;
	struct xmpp_stream_cb cb;
	struct xmpp_pool pool;
	size_t max_stanza;
	struct xmpp_el *cur; /* the open element of the stanza being built */
	unsigned depth;	     /* 0 outside the root, 1 inside it */
	long long start;     /* byte index where the current stanza began */
	const char *cond, *why;
	int closed;
};

static void fail(struct xmpp_stream *s, const char *cond, const char *why)
{
	if (!s->why) {
		s->cond = cond;
		s->why = why;
	}
	XML_StopParser(s->p, XML_FALSE);
}

static void on_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct xmpp_stream *s = arg;

	if (s->why)
		return;
	if (s->depth == 0) {
		const char *id = NULL;

		if (strcmp(name, XMPP_NS_STREAMS "|stream") != 0) {
			fail(s, "invalid-namespace", "the root is not stream:stream");
			return;
		}
		for (const XML_Char **a = attrs; a[0] && a[1]; a += 2)
			if (strcmp(a[0], "id") == 0)
				id = a[1];
		s->depth = 1;
		s->cb.header(s->cb.arg, id ? id : "");
		return;
	}
	if (s->depth == 1)
		s->start = XML_GetCurrentByteIndex(s->p);
	else if (XML_GetCurrentByteIndex(s->p) - s->start > (long long)s->max_stanza) {
		fail(s, "policy-violation", "stanza too large");
		return;
	}
	if (s->depth >= XMPP_MAX_DEPTH + 1) {
		fail(s, "policy-violation", "stanza nested too deep");
		return;
	}
	s->cur = xmpp_el_new(&s->pool, s->cur, name, (const char **)attrs);
	if (!s->cur) {
		fail(s, "policy-violation", "stanza too large");
		return;
	}
	s->depth++;
}

static void on_end(void *arg, const XML_Char *name)
{
	struct xmpp_stream *s = arg;
	struct xmpp_el *done = s->cur;

	(void)name;
	if (s->why)
		return;
	if (s->depth == 1) {
		s->closed = 1;
		s->depth = 0;
		XML_StopParser(s->p, XML_FALSE);
		return;
	}
	s->depth--;
	s->cur = done->parent;
	if (s->depth == 1) {
		s->cb.stanza(s->cb.arg, done);
		s->pool.used = 0;
		s->cur = NULL;
	}
}

static void on_text(void *arg, const XML_Char *txt, int len)
{
	struct xmpp_stream *s = arg;

	/* Whitespace keep-alives between stanzas (XEP-0114) land here at depth 1. */
	if (s->why || !s->cur || len <= 0)
		return;
	if (xmpp_el_text(&s->pool, s->cur, txt, (size_t)len) < 0)
		fail(s, "policy-violation", "stanza too large");
}

static void on_restricted(struct xmpp_stream *s)
{
	fail(s, "restricted-xml", "DTD, comment or processing instruction (RFC 6120 11.1)");
}

static void on_comment(void *arg, const XML_Char *data)
{
	(void)data;
	on_restricted(arg);
}

static void on_pi(void *arg, const XML_Char *target, const XML_Char *data)
{
	(void)target;
	(void)data;
	on_restricted(arg);
}

static void on_doctype(void *arg, const XML_Char *name, const XML_Char *sysid,
		       const XML_Char *pubid, int has_internal)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal;
	on_restricted(arg);
}

static int make_parser(struct xmpp_stream *s)
{
	s->p = XML_ParserCreateNS("UTF-8", '|');
	if (!s->p)
		return -ENOMEM;
	XML_SetUserData(s->p, s);
	XML_SetElementHandler(s->p, on_start, on_end);
	XML_SetCharacterDataHandler(s->p, on_text);
	XML_SetCommentHandler(s->p, on_comment);
	XML_SetProcessingInstructionHandler(s->p, on_pi);
	XML_SetStartDoctypeDeclHandler(s->p, on_doctype);
	/* Debian's expat 2.5 carries 2.6's reparse deferral (CVE-2023-52425):
	 * left on, a stanza that arrives in small reads can sit in expat's
	 * buffer until more bytes come, which on an idle link is never. */
	XML_SetReparseDeferralEnabled(s->p, XML_FALSE);
	s->cur = NULL;
	s->depth = 0;
	s->pool.used = 0;
	s->cond = s->why = NULL;
	s->closed = 0;
	return 0;
}

int xmpp_stream_open(size_t max_stanza, const struct xmpp_stream_cb *cb, struct xmpp_stream **out)
{
	struct xmpp_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->cb = *cb;
	s->max_stanza = max_stanza;
	/* The DOM costs about twice the markup (element headers, pointers). */
	s->pool.cap = 2 * max_stanza + 4096;
	s->pool.buf = malloc(s->pool.cap);
	if (!s->pool.buf || make_parser(s) < 0) {
		free(s->pool.buf);
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void xmpp_stream_close(struct xmpp_stream *s)
{
	if (!s)
		return;
	XML_ParserFree(s->p);
	free(s->pool.buf);
	free(s);
}

int xmpp_stream_reset(struct xmpp_stream *s)
{
	XML_ParserFree(s->p);
	return make_parser(s);
}

int xmpp_stream_feed(struct xmpp_stream *s, const char *buf, size_t len, const char **cond,
		     const char **why)
{
	enum XML_Status st;

	if (s->closed)
		return -EPIPE;
	if (s->why) {
		*cond = s->cond;
		*why = s->why;
		return -EBADMSG;
	}
	while (len) {
		int n = len > (1u << 30) ? 1 << 30 : (int)len;

		st = XML_Parse(s->p, buf, n, 0);
		if (s->closed)
			return -EPIPE;
		if (s->why) {
			*cond = s->cond;
			*why = s->why;
			return -EBADMSG;
		}
		if (st != XML_STATUS_OK) {
			s->cond = "not-well-formed";
			s->why = XML_ErrorString(XML_GetErrorCode(s->p));
			*cond = s->cond;
			*why = s->why;
			return -EBADMSG;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

void xmpp_stream_handshake(const char *id, const char *secret, char hex[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	hex[0] = '\0';
	if (!c)
		return;
	if (EVP_DigestInit_ex(c, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(c, id, strlen(id)) == 1 &&
	    EVP_DigestUpdate(c, secret, strlen(secret)) == 1 &&
	    EVP_DigestFinal_ex(c, md, &mdlen) == 1)
		for (unsigned i = 0; i < mdlen && i < 20; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
	EVP_MD_CTX_free(c);
}
