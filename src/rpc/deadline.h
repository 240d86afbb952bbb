/*
 * deadline.h - the watchdog that shuts down connections past their
 * deadlines.  Deadlines are core/clock.h's (absolute, on CLOCK_MONOTONIC).
 *
 * A watchdog (struct rpc_deadlines) holds a table of open connections, each
 * named by a key the caller chooses (libmicrohttpd's connection pointer) and
 * its socket, each with a deadline or none.  Its thread shuts down
 * (shutdown(SHUT_RDWR)) the socket of every connection past its deadline, at
 * most RPC_DEADLINE_TICK_MS late; whoever serves that connection then reads
 * the end of the stream and closes it.  The watchdog never closes a
 * descriptor: the caller removes a connection (rpc_deadlines_remove()) before
 * it closes its socket, so a shutdown never reaches a descriptor number that
 * was reused.  All functions but start and stop are thread-safe.
 */
#ifndef RPC_DEADLINE_H
#define RPC_DEADLINE_H

#include <stddef.h>
#include <time.h>

/* How often the watchdog looks; a deadline is kept to within this. */
#define RPC_DEADLINE_TICK_MS 250

struct rpc_deadlines;

/*
 * A watchdog for up to capacity connections, its thread started.  Caller
 * frees with rpc_deadlines_stop().  Errors: ERR_INVALID_ARGUMENT (capacity
 * 0), ERR_NOMEM.
 */
int rpc_deadlines_start(size_t capacity, struct rpc_deadlines **outp);

/*
 * A connection opened (key not NULL, fd its socket), due within seconds.
 * Errors: ERR_TOO_MANY (the table is full: the caller should close it).
 */
int rpc_deadlines_add(struct rpc_deadlines *d, const void *key, int fd, unsigned seconds);

/* The connection's next deadline, seconds from now; 0: none for now.  An
 * unknown key is ignored. */
void rpc_deadlines_set(struct rpc_deadlines *d, const void *key, unsigned seconds);

/* The connection is closing: forget it (before its socket is closed). */
void rpc_deadlines_remove(struct rpc_deadlines *d, const void *key);

/* Stop the thread and free; accepts NULL. */
void rpc_deadlines_stop(struct rpc_deadlines *d);

#endif /* RPC_DEADLINE_H */
