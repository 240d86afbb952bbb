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

#endif /* RPC_CALLER_H */
