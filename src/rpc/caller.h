/*
 * caller.h - who sent a request, kept in two parts that are never mixed.
 *
 * The trusted part comes from the kernel or from qrexec: the TCP peer the
 * socket is connected to, the uid from SO_PEERCRED, or the source qube named
 * in the qrexec descriptor.  The untrusted part is what the request itself
 * claims (Clef's metadata: remote, local, scheme, User-Agent, Origin; and
 * X-Forwarded-For): it is shown to the approver, labelled as a claim, and
 * never used for a decision.
 */
#ifndef RPC_CALLER_H
#define RPC_CALLER_H

#include <sys/types.h>

enum rpc_caller_kind {
	RPC_CALLER_TCP,		/* id: peer address "ip:port" */
	RPC_CALLER_UNIX,	/* id: "uid:N"; uid set */
	RPC_CALLER_QUBE,	/* id: the source qube's name */
	RPC_CALLER_STDIO,	/* id: "stdio", or the qube from QREXEC_REMOTE_DOMAIN */
};

#define RPC_CALLER_FIELD 256

/*
 * How a transport can tell that the caller has gone while its request waits
 * (for a person, a PIN, a token): see rpc_caller_gone().
 */
enum rpc_caller_watch {
	RPC_WATCH_NONE = 0,	/* it cannot (stdio; a zeroed caller) */
	/* Unix stream socket: gone when the peer closed its end (POLLHUP).  A
	 * peer that only shut down its writing side (socat after its input
	 * ends, qrexec-agent after the request) still waits for the answer. */
	RPC_WATCH_HANGUP,
	/* TCP (HTTP): a peer's close reaches us only as the end of its data
	 * (POLLRDHUP); an HTTP client does not half-close while it waits. */
	RPC_WATCH_HANGUP_OR_EOF,
};

struct rpc_caller {
	/* trusted */
	enum rpc_caller_kind kind;
	char id[RPC_CALLER_FIELD];
	uid_t uid;
	char profile[RPC_CALLER_FIELD];	/* qrexec service argument; "" when none */
	/* TCP over mutual TLS (rpc/http.h, docs/tls.md): "sha256:HEX", the
	 * fingerprint of the client certificate, which the handshake proved the
	 * caller holds the key of and which is one of the pinned ones; "" for
	 * every other transport.  id stays the peer address. */
	char tls_client[RPC_CALLER_FIELD];
	/* the connection the request came on, borrowed while it is answered */
	enum rpc_caller_watch watch;
	int conn_fd;			/* meaningful when watch != RPC_WATCH_NONE */
	/* untrusted: as the request claims, for display only */
	char untrusted_remote[RPC_CALLER_FIELD];
	char untrusted_local[RPC_CALLER_FIELD];
	char untrusted_scheme[RPC_CALLER_FIELD];
	char untrusted_user_agent[RPC_CALLER_FIELD];
	char untrusted_origin[RPC_CALLER_FIELD];
	char untrusted_forwarded_for[RPC_CALLER_FIELD];
};

/* Copy at most RPC_CALLER_FIELD-1 bytes of src (NULL → "") into a field,
 * replacing control characters so a claim cannot forge lines on a display. */
void rpc_caller_set(char dst[RPC_CALLER_FIELD], const char *src);

/*
 * 1 when the caller has gone (closed its connection: gave up, timed out,
 * was killed), 0 while it may still read the answer or when the transport
 * cannot tell (NULL, RPC_WATCH_NONE).  Does not block and reads nothing.
 */
int rpc_caller_gone(const struct rpc_caller *c);

#endif /* RPC_CALLER_H */
