#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/spawn.h"

extern char **environ;

/* One descriptor of the child: dup2 from fd, /dev/null, or leave the parent's. */
static int
add_fd(posix_spawn_file_actions_t *fa, int fd, int to)
{
	int open_flags = to == 0 ? O_RDONLY : O_WRONLY;

	if (fd == SPAWN_INHERIT && fcntl(to, F_GETFD) >= 0)
		return 0;
	if (fd < 0)
		return posix_spawn_file_actions_addopen(fa, to, "/dev/null", open_flags, 0);
	/* glibc's dup2 action on fd == to clears FD_CLOEXEC, as POSIX 2024 asks. */
	return posix_spawn_file_actions_adddup2(fa, fd, to);
}

int
spawn_start(const char *path, char *const argv[], const int fds[3], pid_t *pidp, int *errnop)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	pid_t pid;
	int e, i, r;

	*pidp = 0;
	*errnop = 0;
	if ((e = posix_spawn_file_actions_init(&fa)) != 0) {
		*errnop = e;
		return ERR_NOMEM;
	}
	if ((e = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		*errnop = e;
		return ERR_NOMEM;
	}
	sigemptyset(&none);
	sigfillset(&all);
	for (i = 0, e = 0; i < 3 && e == 0; i++)
		e = add_fd(&fa, fds[i], i);
	if (e == 0)
		e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (e == 0)
		e = posix_spawnattr_setsigmask(&attr, &none);
	if (e == 0)
		e = posix_spawnattr_setsigdefault(&attr, &all);
	if (e == 0)
		e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (e == 0)
		e = posix_spawn(&pid, path, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (e != 0) {
		*errnop = e;
		r = e == ENOMEM ? ERR_NOMEM : ERR_IO;
	} else {
		*pidp = pid;
		r = 0;
	}
	return r;
}

/*
 * Wait up to grace_ms for pid, then SIGKILL it and wait for it; *statusp is
 * waitpid's status.  -1 when it cannot be reaped (SIGCHLD ignored, or
 * someone else's waitpid(-1) took it).
 */
static int
reap(pid_t pid, long grace_ms, int *statusp, int *killedp)
{
	struct timespec start, pause = { 0, 1000000 };
	int status = 0, killed = 0, r;
	pid_t w;

	clock_deadline_ms(&start, 0);
	for (;;) {
		w = waitpid(pid, &status, killed ? 0 : WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -1;
			goto out;
		}
		if (!killed && clock_ms_since(&start) >= grace_ms) {
			kill(pid, SIGKILL);
			killed = 1;
			continue;
		}
		nanosleep(&pause, NULL);
	}
	*statusp = status;
	r = 0;
 out:
	*killedp = killed;
	return r;
}

void
spawn_reap(pid_t pid, long grace_ms, char *out, size_t outsz, int *killedp)
{
	int status = 0, killed = 0;

	if (reap(pid, grace_ms, &status, &killed) != 0)
		snprintf(out, outsz, "ended (its exit status is not known)");
	else if (WIFSIGNALED(status))
		snprintf(out, outsz, "died (signal %d)", WTERMSIG(status));
	else if (WIFEXITED(status))
		snprintf(out, outsz, "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(out, outsz, "ended");
	if (killedp != NULL)
		*killedp = killed;
}

int
spawn_reap_status(pid_t pid, long grace_ms, int *killedp)
{
	int status = 0, killed = 0, r;

	if (reap(pid, grace_ms, &status, &killed) != 0)
		r = -1;
	else if (WIFSIGNALED(status))
		r = 128 + WTERMSIG(status);
	else if (WIFEXITED(status))
		r = WEXITSTATUS(status);
	else
		r = -1;
	if (killedp != NULL)
		*killedp = killed;
	return r;
}
