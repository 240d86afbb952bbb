/*
 * spawn.h - starting and reaping the programs p11signer runs (its token
 * helper, qrexec-client-vm), the same way everywhere.
 *
 * A child gets exactly the descriptors it is given as 0, 1 and 2, nothing
 * else open (however the parent's descriptors were flagged), default signal
 * dispositions and an empty signal mask (the parent's threads may block or
 * ignore signals).  Every posix_spawn step is checked.
 */
#ifndef CORE_SPAWN_H
#define CORE_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

/* In spawn_start()'s fds: /dev/null, or the parent's own descriptor. */
#define SPAWN_DEVNULL (-1)
#define SPAWN_INHERIT (-2)

/*
 * Start path (an absolute path, no PATH search) with argv (NULL-terminated)
 * and the parent's environment; fds[0..2] become the child's 0, 1, 2: a
 * descriptor, SPAWN_DEVNULL or SPAWN_INHERIT (a parent's descriptor that is
 * closed counts as SPAWN_DEVNULL).  On success *pidp is the child.  Errors:
 * ERR_NOMEM, ERR_IO, with the errno that posix_spawn gave in *errnop (for
 * the caller's message).
 */
int spawn_start(const char *path, char *const argv[], const int fds[3], pid_t *pidp, int *errnop);

/*
 * Wait up to grace_ms for pid to exit, then SIGKILL it; reap it either way.
 * Writes what became of it ("exited with status 3", "died (signal 9)") to
 * out, and sets *killedp (may be NULL) when it had to be killed.  Only the
 * thread that started pid may reap it, so the pid cannot be reused under
 * the kill().
 */
void spawn_reap(pid_t pid, long grace_ms, char *out, size_t outsz, int *killedp);

/*
 * As spawn_reap(), for a caller that passes the child's exit status on (the
 * relay answers with qrexec-client-vm's): returns it as a shell gives it,
 * the child's exit status or 128 + the signal that ended it (137 when it
 * had to be killed); -1 when it is not known.
 */
int spawn_reap_status(pid_t pid, long grace_ms, int *killedp);

#endif /* CORE_SPAWN_H */
