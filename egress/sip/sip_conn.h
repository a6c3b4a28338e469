/* sip_conn: the SIP worker's transports: one UDP socket (sends batched
 * through udp_batch: GSO groups in one sendmmsg; reads with UDP GRO), a
 * TCP listener, optionally a TLS listener (sip_tls.h), and preallocated
 * connection slots (TCP accepted or dialled, TLS
 * accepted; reused per peer), all on one epoll. Messages are
 * framed here (TCP by Content-Length through sip_parse) and handed to the
 * caller's callback. Run by the SIP egress worker. */
#ifndef PNA_SIP_CONN_H
#define PNA_SIP_CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "egress/sip/sip_dlg.h"

enum { SIP_TP_UDP = 1, SIP_TP_TCP = 2, SIP_TP_TLS = 3, SIP_TP_COUNT };

/* Where a message came from or goes to. For TCP and TLS, conn/gen name the
 * slot (a stale gen means the connection is gone). cert_trusted: it came
 * over TLS from a client whose certificate is in sip_tls_trusted. */
struct sip_peer {
	uint8_t tp;
	bool cert_trusted;
	uint32_t conn, gen;
	struct sockaddr_storage addr;
	socklen_t alen;
};

struct sip_net;

/* Called for each received message; bytes are valid during the call. */
typedef void (*sip_net_msg_fn)(void *arg, const char *buf, size_t len, const struct sip_peer *from);

/* Bind UDP and TCP on host:port and register them on epfd (epoll data
 * tags below). 0 and *out, or -errno with err set. */
int sip_net_open(const char *host, uint16_t port, uint32_t max_conns, int epfd, struct sip_seg *seg,
		 struct sip_net **out, char *err, size_t errlen);
void sip_net_close(struct sip_net *n);

struct sip_tls;
/* Add a TLS listener on host:port whose sessions use tls (owned by n from
 * now on, also on failure). 0, or -errno with err set. */
int sip_net_open_tls(struct sip_net *n, const char *host, uint16_t port, struct sip_tls *tls,
		     char *err, size_t errlen);

/* epoll_event.data.u64 values the net owns: true if it handled ev. */
bool sip_net_event(struct sip_net *n, uint64_t data, uint32_t events, sip_net_msg_fn fn, void *arg);

/* Send len bytes to `to`: UDP datagrams are copied into the batch sent at
 * sip_net_flush (or earlier when it fills), where datagrams may be
 * reordered across peers and lengths unless `ordered`: an ordered one goes
 * after everything sent before it and before everything sent after it
 * (responses: the NOTIFY after a 2xx must not overtake it; a dialog's
 * final NOTIFY); TCP goes to the peer's
 * connection (the slot in `to` if still open, else one to the same
 * address, else a new connection); TLS only to an open connection (the
 * slot, else one from the same address): pnad does not dial TLS, so
 * -ENOTCONN once the subscriber's connection is gone. 0 or -errno. */
int sip_net_send(struct sip_net *n, const struct sip_peer *to, const char *buf, size_t len,
		 bool ordered);
void sip_net_flush(struct sip_net *n);
/* Close connections marked for closing (after the batch). */
void sip_net_reap(struct sip_net *n);

/* Our address as peers should see it (the bound one). */
const char *sip_net_host(const struct sip_net *n);
uint16_t sip_net_port(const struct sip_net *n);
/* Our port for transport tp (the TLS listener's for SIP_TP_TLS). */
uint16_t sip_net_port_of(const struct sip_net *n, uint8_t tp);
/* "UDP", "TCP" or "TLS" (Via); lower-case for URIs and dialog blobs. */
const char *sip_tp_name(uint8_t tp);
const char *sip_tp_lower(uint8_t tp);
/* Our Contact for transport tp: "<sip:host:port[;transport=tcp|tls]>". */
void sip_net_contact(const struct sip_net *n, uint8_t tp, char *out, size_t cap);

/* Numeric "ip" and port to a sockaddr. 0 or -EINVAL. */
int sip_addr_make(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);
/* The numeric IP and port of ss. */
void sip_addr_str(const struct sockaddr_storage *ss, char *ip, size_t iplen, uint16_t *port);

#endif
