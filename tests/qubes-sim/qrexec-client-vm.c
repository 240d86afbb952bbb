/*
 * qrexec-client-vm.c - stand-in for Qubes' qrexec-client-vm that also plays
 * dom0 and the target's qrexec-agent, for tests/qubes-sim and bench/.
 *
 *     qrexec-client-vm TARGET SERVICE[+ARGUMENT]   (stdin/stdout are the call)
 *
 * It replaces a Python stand-in that took 50 of the 52 ms of a call to start:
 * Qubes' own client is a C program, and a stand-in that costs more than the
 * thing it stands for hides what the relay and the vault spend.  Like qrexec
 * it streams: the caller's stdin reaches the service as it comes and the
 * service's output reaches stdout as it comes, so one call can carry many
 * framed requests (src/rpc/qrexec.h).
 *
 * What dom0 and the vault know and the calling qube cannot change comes from
 * the simulation harness, not from the caller:
 *
 *   QUBES_SIM_SOURCE        the calling qube's name
 *   QUBES_SIM_POLICY_DIR    policy files in the real /etc/qubes/policy.d
 *                           format, read in "C" order, first matching line wins
 *   QUBES_SIM_SERVICES_DIR  <dir>/<qube>/<SERVICE> is a qube's /etc/qubes-rpc:
 *                           a Unix socket (or a symlink to one) for a socket
 *                           service, or an executable
 *   QUBES_SIM_ASK           the simulated user's answer to an `ask`: "allow"
 *                           or "deny" (default deny)
 *   QUBES_SIM_DEFAULT_USER  the target qube's default user ("user" in Qubes)
 *   QUBES_SIM_FORK_SERVER   "1" (default): the default user has a session, so
 *                           the agent runs that user's calls through its fork
 *                           server, as that user; "0": no session, the agent
 *                           itself connects to socket services (as root)
 *   QUBES_SIM_TARGET_NETNS  a network namespace the target's executable
 *                           services run in (the vault's), optional
 *   QUBES_SIM_LOG           a file to record each hop in
 *
 * Switching users needs root; run by another user, the stand-in runs every
 * service as that user and says so in QUBES_SIM_LOG.
 *
 * What it does as real qrexec does (QubesOS/qubes-core-qrexec:
 * policy/parser.py, daemon/qrexec-daemon.c, libqrexec/exec.c,
 * agent/qrexec-agent*.c):
 *
 * - The call is normalised to SERVICE+ARGUMENT: a call without "+" has the
 *   empty argument, and policy lines match it with the argument "+".  The
 *   argument column of a policy line is "*" or starts with "+"; anything
 *   else, a line with fewer than five fields, or an option that is not
 *   KEY=VALUE is a syntax error, and a syntax error anywhere refuses every
 *   call.  Refused: exit 126, "Request refused" on stderr.
 * - A socket service is connected to by the agent as root when the policy
 *   line says user=root or when no fork server runs; otherwise by the fork
 *   server, as the default user, so the socket's owner and mode decide.  It
 *   gets the descriptor "SERVICE+ARGUMENT SOURCE\0" (the "+" even when the
 *   argument is empty) before the caller's data.  Once connected the call
 *   exits 0, whatever the service does (libqrexec/process_io.c); a
 *   connection the service resets is an end of data, not an error.
 * - The service is looked up as SERVICE+ARGUMENT, then SERVICE; a name that
 *   does not resolve is "Service not found": exit 127.  A socket that exists
 *   but cannot be connected to (stale, or the connecting user may not) is a
 *   qrexec problem: exit 125.  Neither writes on the caller's stderr; the
 *   agent logs in the vault (here: QUBES_SIM_LOG).
 * - An executable service runs as the policy's user (the default user unless
 *   user= says otherwise) with QREXEC_REMOTE_DOMAIN, QREXEC_SERVICE_FULL_NAME
 *   ("SERVICE+ARGUMENT") and, only when the argument is not empty,
 *   QREXEC_SERVICE_ARGUMENT and $1.  Its stderr reaches the caller's stderr;
 *   its exit status is the call's.
 *
 * A test tool: it exits on the first thing it cannot do, and every call is
 * bounded by SIM_CALL_TIMEOUT_S (the relay's own timeout is shorter).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIM_EXIT_PROBLEM	125	/* QREXEC_EXIT_PROBLEM */
#define SIM_EXIT_REFUSED	126	/* QREXEC_EXIT_REQUEST_REFUSED */
#define SIM_EXIT_NOT_FOUND	127	/* QREXEC_EXIT_SERVICE_NOT_FOUND */
#define SIM_CALL_TIMEOUT_S	600
#define SIM_MAX_RULES		256
#define SIM_MAX_OPTIONS		8
#define SIM_FIELD		256
#define SIM_PATH		4096

struct sim_rule {
	char where[SIM_FIELD + 16];
	char f[5][SIM_FIELD];
	char key[SIM_MAX_OPTIONS][SIM_FIELD], value[SIM_MAX_OPTIONS][SIM_FIELD];
	int nopt;
};

static struct sim_rule rules[SIM_MAX_RULES];
static int nrules;

static void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
sim_log(const char *fmt, ...)
{
	const char *path = getenv("QUBES_SIM_LOG");
	va_list ap;
	FILE *f;

	if (path == NULL || *path == '\0' || (f = fopen(path, "a")) == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

static void sim_refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
sim_refuse(const char *fmt, ...)
{
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	sim_log("dom0: refused: %s", why);
	fputs("Request refused\n", stderr);
	exit(SIM_EXIT_REFUSED);
}

static const char *
need_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL) {
		fprintf(stderr, "qrexec-client-vm (stand-in): %s is not set\n", name);
		exit(2);
	}
	return v;
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void
parse_line(const char *file, int lineno, char *line)
{
	char *field[5 + SIM_MAX_OPTIONS] = { NULL }, *save = NULL, *t, *eq;
	struct sim_rule *r;
	int n = 0, i;

	line += strspn(line, " \t\r\n");
	if (*line == '#' || *line == '\0')
		return;
	for (t = strtok_r(line, " \t\r\n", &save); t != NULL; t = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == 5 + SIM_MAX_OPTIONS || strlen(t) >= SIM_FIELD)
			sim_refuse("%s:%d: line too long for the stand-in", file, lineno);
		field[n++] = t;
	}
	if (field[0][0] == '!')
		sim_refuse("%s:%d: directives are not simulated", file, lineno);
	if (n < 5)
		sim_refuse("%s:%d: syntax error: fewer than five fields", file, lineno);
	if (strcmp(field[1], "*") != 0 && field[1][0] != '+')
		sim_refuse("%s:%d: syntax error: the argument must be \"*\" or start with \"+\"", file, lineno);
	if (nrules == SIM_MAX_RULES)
		sim_refuse("%s:%d: too many rules for the stand-in", file, lineno);
	r = &rules[nrules++];
	snprintf(r->where, sizeof(r->where), "%s:%d", file, lineno);
	for (i = 0; i < 5; i++)
		snprintf(r->f[i], sizeof(r->f[i]), "%s", field[i]);
	for (i = 5; i < n; i++) {
		if ((eq = strchr(field[i], '=')) == NULL || eq == field[i])
			sim_refuse("%s:%d: syntax error: option '%s' is not KEY=VALUE", file, lineno, field[i]);
		*eq = '\0';
		snprintf(r->key[r->nopt], sizeof(r->key[r->nopt]), "%s", field[i]);
		snprintf(r->value[r->nopt], sizeof(r->value[r->nopt]), "%s", eq + 1);
		r->nopt++;
	}
}

/* Every policy file's lines, in evaluation order. */
static void
parse_policy(const char *dir)
{
	struct dirent **names;
	char path[SIM_PATH], line[4096];
	int n, i, lineno;
	FILE *f;

	if ((n = scandir(dir, &names, NULL, by_name)) < 0)
		sim_refuse("cannot read the policy directory %s", dir);
	for (i = 0; i < n; i++) {
		size_t len = strlen(names[i]->d_name);

		if (len < 7 || strcmp(names[i]->d_name + len - 7, ".policy") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if ((f = fopen(path, "r")) == NULL)
			sim_refuse("cannot read %s", path);
		for (lineno = 1; fgets(line, sizeof(line), f) != NULL; lineno++)
			parse_line(names[i]->d_name, lineno, line);
		fclose(f);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int
matches(const char *pattern, const char *value)
{
	return strcmp(pattern, "*") == 0 ||
	    (strcmp(pattern, "@anyvm") == 0 && strcmp(value, "dom0") != 0) ||
	    strcmp(pattern, value) == 0;
}

/* The first rule for the call; NULL: none matches (deny). argument with its "+". */
static const struct sim_rule *
decide(const char *service, const char *argument, const char *source, const char *target)
{
	int i;

	for (i = 0; i < nrules; i++) {
		const struct sim_rule *r = &rules[i];

		if (strcmp(r->f[0], "*") != 0 && strcmp(r->f[0], service) != 0)
			continue;
		if (strcmp(r->f[1], "*") != 0 && strcmp(r->f[1], argument) != 0)
			continue;
		if (matches(r->f[2], source) && matches(r->f[3], target))
			return r;
	}
	return NULL;
}

static const char *
option(const struct sim_rule *r, const char *key, const char *dflt)
{
	int i;

	for (i = 0; r != NULL && i < r->nopt; i++)
		if (strcmp(r->key[i], key) == 0)
			return r->value[i];
	return dflt;
}

static void
become(const struct passwd *pw)
{
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
		_exit(SIM_EXIT_PROBLEM);
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * The connecting process (the fork server as the user, or the agent): after
 * "connected" on report_fd, stdin goes to the socket and the socket to stdout
 * as they come, until the service ends the connection.  Never returns.
 */
static void
connect_and_stream(const char *path, const char *descriptor, const struct passwd *pw, int report_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *who = pw != NULL ? pw->pw_name : "root";
	char buf[65536], what[512];
	int s, in_open = 1;

	if (pw != NULL)
		become(pw);
	if (strlen(path) >= sizeof(sa.sun_path) ||
	    (s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		_exit(SIM_EXIT_PROBLEM);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(what, sizeof(what), "connect as %s: %s", who, strerror(errno));
		write_all(report_fd, what, strlen(what));
		_exit(SIM_EXIT_PROBLEM);
	}
	write_all(report_fd, "connected", 9);
	close(report_fd);
	/* Connected: qrexec reports 0 whatever happens next.  A service that
	 * stops reading (it refused the call) may still have answered. */
	if (write_all(s, descriptor, strlen(descriptor) + 1) != 0)
		in_open = 0;
	for (;;) {
		struct pollfd p[2] = { { s, POLLIN, 0 }, { 0, POLLIN, 0 } };
		ssize_t n;

		if (poll(p, in_open ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents != 0) {
			n = read(s, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || write_all(1, buf, (size_t)n) != 0)
				break;		/* a reset is an end of data too */
		}
		if (in_open && p[1].revents != 0) {
			n = read(0, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || write_all(s, buf, (size_t)n) != 0) {
				shutdown(s, SHUT_WR);
				in_open = 0;
			}
		}
	}
	_exit(0);
}

/* Connect as pw (NULL: root, the agent itself); the call's exit status. */
static int
socket_service(const char *path, const char *descriptor, const struct passwd *pw)
{
	char what[512];
	size_t got = 0;
	ssize_t n;
	int fds[2], st;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0 || (pid = fork()) < 0)
		return SIM_EXIT_PROBLEM;
	if (pid == 0) {
		close(fds[0]);
		connect_and_stream(path, descriptor, pw, fds[1]);
	}
	close(fds[1]);
	while (got < sizeof(what) - 1 && (n = read(fds[0], what + got, sizeof(what) - 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	what[got] = '\0';
	close(fds[0]);
	sim_log("vault: agent: %s", got > 0 ? what : "no connection");
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Run an executable service on our stdin/stdout; its exit status. */
static int
exec_service(const char *path, const char *arg, const char *full, const char *source,
    const struct passwd *pw)
{
	char e_dom[SIM_FIELD + 32], e_full[SIM_FIELD * 3], e_arg[SIM_FIELD + 32];
	char s_uid[32], s_gid[32];
	char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", e_dom, e_full,
	    *arg != '\0' ? e_arg : NULL, NULL };
	char *argv[16];
	const char *netns = getenv("QUBES_SIM_TARGET_NETNS");
	int n = 0, st;
	pid_t pid;

	snprintf(e_dom, sizeof(e_dom), "QREXEC_REMOTE_DOMAIN=%s", source);
	snprintf(e_full, sizeof(e_full), "QREXEC_SERVICE_FULL_NAME=%s", full);
	snprintf(e_arg, sizeof(e_arg), "QREXEC_SERVICE_ARGUMENT=%s", arg);
	if (netns != NULL && *netns != '\0') {
		argv[n++] = "ip";
		argv[n++] = "netns";
		argv[n++] = "exec";
		argv[n++] = (char *)(uintptr_t)netns;
	}
	if (pw != NULL) {
		snprintf(s_uid, sizeof(s_uid), "--reuid=%u", (unsigned)pw->pw_uid);
		snprintf(s_gid, sizeof(s_gid), "--regid=%u", (unsigned)pw->pw_gid);
		argv[n++] = "setpriv";
		argv[n++] = s_uid;
		argv[n++] = s_gid;
		argv[n++] = "--clear-groups";
		argv[n++] = "--";
	}
	argv[n++] = (char *)(uintptr_t)path;
	if (*arg != '\0')
		argv[n++] = (char *)(uintptr_t)arg;
	argv[n] = NULL;
	if ((pid = fork()) < 0)
		return SIM_EXIT_PROBLEM;
	if (pid == 0) {
		/* ip and setpriv are found on PATH, as the Python stand-in's subprocess did. */
		execvpe(argv[0], argv, envp);
		_exit(SIM_EXIT_NOT_FOUND);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* target (SIM_FIELD bytes) = value, which may be target itself. */
static void
set_target(char *target, const char *value)
{
	char copy[SIM_FIELD];

	snprintf(copy, sizeof(copy), "%s", value);
	memcpy(target, copy, sizeof(copy));
}

int
main(int argc, char **argv)
{
	char service[SIM_FIELD], arg[SIM_FIELD], full[SIM_FIELD * 2 + 2], argument[SIM_FIELD + 1];
	char target[SIM_FIELD], qube_dir[SIM_PATH], path[SIM_PATH + SIM_FIELD * 3], descriptor[SIM_FIELD * 3];
	const char *source, *action, *user, *plus, *candidates[2];
	const struct sim_rule *rule;
	const struct passwd *pw = NULL;
	struct stat sb;
	int fork_server, i, found = 0;

	if (argc != 3) {
		fputs("usage: qrexec-client-vm TARGET SERVICE[+ARGUMENT]\n", stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	alarm(SIM_CALL_TIMEOUT_S);
	if (strlen(argv[1]) >= sizeof(target) || strlen(argv[2]) >= sizeof(service))
		sim_refuse("name too long");
	snprintf(target, sizeof(target), "%s", argv[1]);
	plus = strchr(argv[2], '+');
	snprintf(service, sizeof(service), "%.*s", plus ? (int)(plus - argv[2]) : (int)strlen(argv[2]), argv[2]);
	snprintf(arg, sizeof(arg), "%s", plus ? plus + 1 : "");
	snprintf(full, sizeof(full), "%s+%s", service, arg);	/* what dom0 passes on: the "+" always */
	snprintf(argument, sizeof(argument), "+%s", arg);
	source = need_env("QUBES_SIM_SOURCE");
	parse_policy(need_env("QUBES_SIM_POLICY_DIR"));
	rule = decide(service, argument, source, target);
	action = rule != NULL ? rule->f[4] : "deny";
	sim_log("dom0: %s -> %s %s: %s (%s)", source, target, full, action,
	    rule != NULL ? rule->where : "no matching rule");
	if (strcmp(action, "deny") == 0) {
		sim_refuse("%s", rule != NULL ? rule->where : "no matching rule");
	} else if (strcmp(action, "ask") == 0) {
		const char *ask = getenv("QUBES_SIM_ASK");

		if (ask == NULL || strcmp(ask, "allow") != 0)
			sim_refuse("the user said no at the prompt");
		if (strcmp(target, "@default") == 0)
			set_target(target, option(rule, "default_target", option(rule, "target", target)));
		set_target(target, option(rule, "target", target));
	} else if (strcmp(action, "allow") == 0) {
		set_target(target, option(rule, "target", target));
	} else {
		sim_refuse("%s: unknown action %s", rule->where, action);
	}
	if (target[0] == '\0' || strchr(target, '/') != NULL || strcmp(target, "@anyvm") == 0 ||
	    strcmp(target, "@default") == 0 || strcmp(target, "@adminvm") == 0 ||
	    strcmp(target, "@dispvm") == 0)
		sim_refuse("no target qube");

	/* ---- the target qube's agent ---- */
	user = option(rule, "user", getenv("QUBES_SIM_DEFAULT_USER") ? getenv("QUBES_SIM_DEFAULT_USER") : "user");
	fork_server = getenv("QUBES_SIM_FORK_SERVER") == NULL || strcmp(getenv("QUBES_SIM_FORK_SERVER"), "1") == 0;
	snprintf(qube_dir, sizeof(qube_dir), "%s/%s", need_env("QUBES_SIM_SERVICES_DIR"), target);
	candidates[0] = full;
	candidates[1] = service;
	for (i = 0; i < 2 && !found; i++) {
		snprintf(path, sizeof(path), "%s/%s", qube_dir, candidates[i]);
		found = stat(path, &sb) == 0;	/* follows the symlink */
	}
	if (!found) {
		sim_log("%s: agent: Service not found: %s", target, full);
		return SIM_EXIT_NOT_FOUND;
	}
	if (geteuid() != 0) {
		sim_log("%s: agent: not root, so every service runs as uid %u", target, (unsigned)geteuid());
	} else if (strcmp(user, "root") != 0 && (pw = getpwnam(user)) == NULL) {
		sim_log("%s: agent: no user %s in the qube", target, user);
		return SIM_EXIT_PROBLEM;
	}
	if (S_ISSOCK(sb.st_mode)) {
		const struct passwd *via = pw != NULL && fork_server ? pw : NULL;

		snprintf(descriptor, sizeof(descriptor), "%s %s", full, source);
		sim_log("%s: socket service %s, descriptor \"%s %s\", connecting as %s%s", target,
		    strrchr(path, '/') + 1, full, source, via ? via->pw_name : "root",
		    via ? " (fork server)" : "");
		return socket_service(path, descriptor, via);
	}
	sim_log("%s: executable service %s as %s, QREXEC_REMOTE_DOMAIN=%s", target,
	    strrchr(path, '/') + 1, user, source);
	return exec_service(path, arg, full, source, pw);
}
