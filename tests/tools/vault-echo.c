/*
 * vault-echo - TEST TOOL: a stand-in vault that answers `test_whoami` with
 * what p11signer's qrexec transports say about the caller, so the Qubes
 * simulation can test the plumbing on its own.  (The end-to-end simulation
 * runs the real signer.)
 *
 *   vault-echo --socket PATH     qrexec socket service, until SIGTERM
 *   vault-echo --stdio           executable service (QREXEC_REMOTE_DOMAIN)
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rpc/qrexec.h"

static int
m_whoami(void *ctx, void *call_ctx, const json_t *params, json_t **resultp, struct rpc_error *err)
{
	const struct rpc_caller *c = call_ctx;

	*resultp = json_pack("{s:s, s:s, s:s, s:s}", "caller", c->id, "profile", c->profile,
	    "origin", c->untrusted_origin, "user_agent", c->untrusted_user_agent);
	return 0;
}

static const struct rpc_method methods[] = { { "test_whoami", m_whoami } };
static const struct rpc_table table = { methods, 1, NULL };

int
main(int argc, char **argv)
{
	struct rpc_caller caller;
	struct rpc_qrexec *q;
	sigset_t sigs;
	uid_t me = getuid();
	int sig;

	if (argc == 2 && strcmp(argv[1], "--stdio") == 0) {
		if (rpc_qrexec_caller_from_env(&caller) != 0) {
			fprintf(stderr, "vault-echo: no valid QREXEC_REMOTE_DOMAIN\n");
			return 1;
		}
		return rpc_stdio_serve(0, 1, &table, &caller) != 0;
	}
	if (argc != 3 || strcmp(argv[1], "--socket") != 0) {
		fprintf(stderr, "usage: vault-echo --socket PATH | --stdio\n");
		return 2;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* The simulation's qrexec runs as the test's user, not root. */
	if (rpc_qrexec_start(argv[2], &me, 1, &table, &q) != 0) {
		fprintf(stderr, "vault-echo: cannot listen on %s\n", argv[2]);
		return 1;
	}
	sigwait(&sigs, &sig);
	rpc_qrexec_stop(q);
	return 0;
}
