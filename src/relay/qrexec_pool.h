/*
 * qrexec_pool.h - the relay's framed qrexec connections to the vault.
 *
 * One qrexec call costs about as much as everything else on the Qubes path
 * together (dom0's policy evaluation, the agent's connection, two processes
 * started), so the relay keeps a few calls of `qrexec-client-vm VAULT
 * SERVICE` open and carries many requests on each, framed as
 * src/rpc/qrexec.h says: the hello once, then per request a 4-byte length and
 * the body, answered by a 4-byte length and the answer.  dom0 decides once
 * per connection, so its `ask` asks once per connection, and the caller's
 * name is fixed by qrexec for the connection's life.
 *
 * A connection is used by one request at a time.  It is not used again once
 * it has been idle for idle_s seconds or is idle_s seconds old, and a
 * background thread closes such connections within a second: together with
 * the vault's own limits (LIMIT_QREXEC_CONN_IDLE_S and _LIFE_S), no
 * connection outlives a change of dom0's policy by more than that.  At most
 * RELAY_QREXEC_POOL_IDLE_MAX idle connections are kept; more concurrent
 * requests open more calls, closed after their request.
 *
 * Thread-safe.  Connections are keyed by (client, vault, service): a call is
 * never carried on a connection opened for another target.
 */
#ifndef RELAY_QREXEC_POOL_H
#define RELAY_QREXEC_POOL_H

#include <stddef.h>
#include "core/buf.h"

#define RELAY_QREXEC_POOL_IDLE_MAX 8

/*
 * Send one request (input, len bytes: the relay's envelope) to vault's
 * service through the program client, on an open connection or a new one;
 * wait until deadline_ms (core/clock.h clock_now_ms() milliseconds).  On 0, either
 * *exitp is 0 and out holds the answer (empty: the vault had nothing to
 * say), or the call ended without an answer and *exitp is the client's exit
 * status (126 refused by policy, and so on, as for one call per request).
 * A reused connection that ends before answering is replaced by a new one
 * once.  Errors: ERR_TIMEOUT (the call is killed), ERR_TOO_LONG (the answer
 * is over out's cap), ERR_IO (cannot start the client), ERR_NOMEM.
 */
int relay_qrexec_pool_call(const char *client, const char *vault, const char *service,
    unsigned idle_s, const char *input, size_t len, long long deadline_ms,
    struct eth_buf *out, int *exitp);

/* Close every idle connection (at exit). */
void relay_qrexec_pool_close_all(void);

#endif /* RELAY_QREXEC_POOL_H */
