/*
 * p11signer-token - the token helper: the only program of p11signer that
 * loads PKCS#11 code.  p11signer (src/p11/client.c) starts one per module:
 *
 *   p11signer-token --module M [--allow DIR]... [--sessions N]
 *
 * with one end of a socketpair as fd 0, /dev/null as stdout and its own
 * stderr for the log.  It speaks the token protocol (docs/token-protocol.md)
 * on fd 0 and parses no JSON.  The token URIs, which may hold a pin-value,
 * come in the daemon's CONFIGURE, never on the command line (which every
 * local user can read in /proc/PID/cmdline): the module is opened only then.
 *
 * Before anything is loaded: no core dumps, not dumpable (no ptrace, no
 * /proc/PID/mem or environ for others of the same user), no new privileges,
 * every descriptor above 2 closed, SIGPIPE ignored.  A module that cannot be
 * opened is reported in the answer to CONFIGURE, arguments that are wrong
 * in the answer to HELLO (and both on stderr); then it exits 1.  It exits 0 when the
 * daemon closes the socket, 1 when the daemon broke the protocol.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/parse.h"
#include "core/limits.h"
#include "p11/helper.h"
#include "p11/proto.h"
#include "p11/token.h"

#define HELLO_WAIT_MS	30000	/* a refusal waits this long for the daemon's HELLO */
/* Without close_range() and /proc: close up to this descriptor (or the
 * process limit, if lower), a bound on a loop of close() calls. */
#define CLOSE_FD_MAX	65536
#define CLOSE_ROUND	256	/* descriptors read from /proc/self/fd per round */

static char module_shown[LIMIT_PROTO_TEXT + 1] = "p11signer-token";
/* --allow values with their trailing slash; static, so an early exit leaks nothing. */
static char *allow[LIMIT_P11_ALLOWED_DIRS + 1];

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: p11signer-token --module PATH|NAME [--allow DIR]... [--sessions N]\n"
	    "The token helper of p11signer: it is started by p11signer and speaks the token\n"
	    "protocol (docs/token-protocol.md) on descriptor 0, a socket.\n");
}

/* Close every descriptor from lowfd up. */
static void
close_from(int lowfd)
{
	DIR *d;
	struct dirent *de;
	int fds[CLOSE_ROUND], n, i, dfd, more;
	long fd, max;
	char *end;

	if (close_range((unsigned)lowfd, ~0U, 0) == 0)
		return;
	/* Kernels before 5.9: what /proc says is open, in rounds. */
	while ((d = opendir("/proc/self/fd")) != NULL) {
		dfd = dirfd(d);
		n = 0;
		more = 0;
		while ((de = readdir(d)) != NULL) {
			fd = strtol(de->d_name, &end, 10);
			if (*end != '\0' || fd < lowfd || fd == dfd || fd > INT_MAX)
				continue;
			if (n == (int)(sizeof(fds) / sizeof(fds[0]))) {
				more = 1;
				break;
			}
			fds[n++] = (int)fd;
		}
		closedir(d);
		for (i = 0; i < n; i++)
			close(fds[i]);
		if (!more)
			return;
	}
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > CLOSE_FD_MAX)
		max = CLOSE_FD_MAX;
	for (fd = lowfd; fd < max; fd++)
		close((int)fd);
}

/*
 * Before anything is loaded.  Exits 2 when it cannot be done: a helper that
 * could dump a PIN to a core file does not run.
 */
static void
harden(void)
{
	struct rlimit none = { 0, 0 };
	int fd;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || setrlimit(RLIMIT_CORE, &none) != 0) {
		log_msg("%s: cannot disable core dumps: %s", module_shown, strerror(errno));
		_exit(2);
	}
	/* Nothing this process starts may gain privileges (vendor code may exec). */
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	close_from(3);
	signal(SIGPIPE, SIG_IGN);
	/* A module's files must not land on 1 or 2. */
	for (fd = 1; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) < 0) {
			int nfd = open("/dev/null", O_RDWR);

			if (nfd >= 0 && nfd != fd) {
				dup2(nfd, fd);
				close(nfd);
			}
		}
	}
}

static int
fd0_is_socket(void)
{
	struct stat st;

	return fstat(STDIN_FILENO, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void refuse(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* Say why on stderr and in the answer to HELLO, then exit 1. */
static void
refuse(int code, const char *fmt, ...)
{
	char why[LIMIT_PROTO_TEXT + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_msg("%s: %s", module_shown, why);
	if (fd0_is_socket())
		(void)p11_helper_refuse(STDIN_FILENO, code, why, HELLO_WAIT_MS);
	exit(1);
}

/* What the command line says; the daemon's CONFIGURE says the rest. */
struct open_args {
	const char *module;
	size_t nallow;
	unsigned sessions;
};

/* p11_helper_open_fn: the module, with the token URIs of CONFIGURE. */
static int
open_module(void *ctx, const struct proto_configure *pc, struct p11_module **modp, char *why,
    size_t whysz)
{
	const struct open_args *a = ctx;
	const char *uris[LIMIT_P11_URIS + 1], *rejected[LIMIT_PROTO_TOKENS + 1];
	struct p11_module_config cfg;
	struct p11_module_info mi;
	struct p11_token_info *toks = NULL;
	struct p11_key *keys = NULL;
	size_t ntoks = 0, nkeys = 0, i;
	int r;

	/* proto_decode() holds the lists to these caps. */
	for (i = 0; i < pc->ntoken_uris && i < LIMIT_P11_URIS; i++)
		uris[i] = pc->token_uris[i];
	uris[i] = NULL;
	for (i = 0; i < pc->npin_rejected && i < LIMIT_PROTO_TOKENS; i++)
		rejected[i] = pc->pin_rejected[i];
	rejected[i] = NULL;
	memset(&cfg, 0, sizeof(cfg));
	cfg.module = a->module;
	cfg.allowed_dirs = a->nallow > 0 ? (const char *const *)allow : NULL;
	cfg.uris = pc->ntoken_uris > 0 ? uris : NULL;
	cfg.pin_rejected = rejected;
	cfg.sessions_per_token = a->sessions;
	if ((r = p11_token_open(&cfg, modp)) != 0) {
		/* An invalid URI is the user's --token, not the module's fault. */
		snprintf(why, whysz, r == ERR_P11_URI_INVALID ? "--token: %s" :
		    "cannot open the module: %s", err_str(r));
		log_msg("%s: %s", module_shown, why);
		goto out;
	}
	p11_token_module_info(*modp, &mi);
	if (p11_token_list_tokens(*modp, &toks, &ntoks) == 0 &&
	    p11_token_list_keys(*modp, &keys, &nkeys) == 0) {
		char mf[LIMIT_PROTO_TEXT + 1], desc[LIMIT_PROTO_TEXT + 1];

		proto_text_clean((const uint8_t *)mi.manufacturer, strlen(mi.manufacturer), mf,
		    sizeof(mf));
		proto_text_clean((const uint8_t *)mi.description, strlen(mi.description), desc,
		    sizeof(desc));
		log_msg("%s: opened (%s, %s %u.%u): %zu token(s), %zu key(s)", module_shown, mf, desc,
		    mi.version_major, mi.version_minor, ntoks, nkeys);
	}
	free(toks);
	p11_token_keys_free(keys, nkeys);
	r = 0;
 out:
	explicit_bzero(uris, sizeof(uris));
	return r;
}

/*
 * The helper's workers for sessions per token (0: the default).  A request
 * for a token holds a worker while it signs or waits for a session, and a
 * token lets in at most its sessions plus LIMIT_P11_TOKEN_WAITERS (token_pool.c):
 * twice that many workers, so one slow token leaves at least half of them
 * to the module's other tokens.
 */
_Static_assert(2 * (LIMIT_P11_SESSIONS + LIMIT_P11_TOKEN_WAITERS) <= P11_HELPER_INFLIGHT_MAX,
    "one token's share of the helper's workers must fit twice");

static unsigned
helper_workers(unsigned sessions)
{
	unsigned n;

	n = 2 * ((sessions != 0 ? sessions : P11_TOKEN_SESSIONS_DEFAULT) + LIMIT_P11_TOKEN_WAITERS);
	return n > P11_HELPER_INFLIGHT_DEFAULT ? n : P11_HELPER_INFLIGHT_DEFAULT;
}

int
main(int argc, char **argv)
{
	enum { O_MODULE = 256, O_ALLOW, O_TOKEN, O_SESSIONS, O_HELP, O_VERSION };
	static const struct option longopts[] = {
		{ "module", required_argument, NULL, O_MODULE },
		{ "allow", required_argument, NULL, O_ALLOW },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "sessions", required_argument, NULL, O_SESSIONS },
		{ "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct open_args args;
	size_t i, len;
	unsigned long sessions = 0;
	struct p11_helper_options opt;
	struct p11_module *m = NULL;
	char prefix[48];
	int c, r, busy = 0;

	/* Several helpers share the daemon's stderr: each line says which. */
	snprintf(prefix, sizeof(prefix), "p11signer-token[%ld]", (long)getpid());
	log_init(prefix);
	harden();

	memset(&args, 0, sizeof(args));
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_MODULE:
			if (args.module != NULL)
				refuse(ERR_INVALID_ARGUMENT, "--module given twice: one helper "
				    "serves one module");
			args.module = optarg;
			proto_text_clean((const uint8_t *)optarg, strlen(optarg), module_shown,
			    sizeof(module_shown));
			break;
		case O_ALLOW:
			if (args.nallow == LIMIT_P11_ALLOWED_DIRS)
				refuse(ERR_TOO_MANY, "more than %d --allow", LIMIT_P11_ALLOWED_DIRS);
			/* token.h wants the trailing slash; a user may not type it. */
			len = strlen(optarg);
			if (len == 0 || optarg[0] != '/')
				refuse(ERR_INVALID_ARGUMENT, "--allow wants an absolute directory");
			if ((allow[args.nallow] = malloc(len + 2)) == NULL)
				refuse(ERR_NOMEM, "out of memory");
			snprintf(allow[args.nallow], len + 2, "%s%s", optarg,
			    len > 0 && optarg[len - 1] == '/' ? "" : "/");
			args.nallow++;
			break;
		case O_TOKEN:
			/* Known, to say why it is refused: a URI may hold a PIN. */
			explicit_bzero(optarg, strlen(optarg));
			refuse(ERR_INVALID_ARGUMENT, "--token is gone: token URIs come in the "
			    "daemon's CONFIGURE, never on a command line");
		case O_SESSIONS:
			if (parse_unsigned(optarg, LIMIT_P11_SESSIONS, &sessions) != 0 ||
			    sessions < 1)
				refuse(ERR_INVALID_ARGUMENT, "--sessions wants 1..%d",
				    LIMIT_P11_SESSIONS);
			args.sessions = (unsigned)sessions;
			break;
		case O_HELP:
			usage(stdout);
			return 0;
		case O_VERSION:
			printf("p11signer-token (token protocol version %d)\n", PROTO_VERSION);
			return 0;
		default:
			refuse(ERR_INVALID_ARGUMENT, "unknown option or missing value: %.60s",
			    argv[optind - 1]);
		}
	}
	if (optind != argc)
		refuse(ERR_INVALID_ARGUMENT, "unexpected argument: %.60s", argv[optind]);
	if (!fd0_is_socket()) {
		usage(stderr);
		log_msg("%s: descriptor 0 is not a socket: p11signer starts this program",
		    module_shown);
		return 2;
	}
	if (args.module == NULL)
		refuse(ERR_INVALID_ARGUMENT, "no --module given");

	memset(&opt, 0, sizeof(opt));
	opt.name = module_shown;
	opt.open = open_module;
	opt.open_ctx = &args;
	opt.max_inflight = helper_workers(args.sessions);
	r = p11_helper_serve(STDIN_FILENO, &opt, &m, &busy);
	if (busy) {
		/* A thread is still inside the module: closing it now would pull it away. */
		log_msg("%s: exiting with a request still in the module", module_shown);
		_exit(r == 0 ? 0 : 1);
	}
	p11_token_close(m);
	for (i = 0; i < args.nallow; i++) {
		free(allow[i]);
		allow[i] = NULL;
	}
	return r == 0 ? 0 : 1;
}
