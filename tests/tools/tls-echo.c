/*
 * tls-echo - TEST TOOL: a stand-in signer on rpc_http with mutual TLS, for
 * tests/integration/mtls.test.  It answers `test_whoami` with what the
 * transport says about the caller (peer address, pinned client certificate)
 * and appends every request body that reaches it, one per line, to a log, so
 * a test can show that a refused caller got nothing through.
 *
 *   tls-echo init DIR NAME        rpc_tls_init(): DIR/NAME.key, DIR/NAME.crt;
 *                                 prints the fingerprint
 *   tls-echo fingerprint FILE     prints a certificate's fingerprint
 *   tls-echo serve --cert FILE --key FILE --pin sha256:HEX [--pin ...]
 *                  --log FILE [--port N]
 *                                 127.0.0.1, until SIGTERM; says
 *                                 "listening on 127.0.0.1:PORT" on stderr
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "rpc/caller.h"
#include "rpc/http.h"
#include "rpc/jsonrpc.h"
#include "rpc/tls.h"

#define MAX_PINS 8

static FILE *request_log;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static int
m_whoami(void *ctx, void *call_ctx, const json_t *params, json_t **resultp, struct rpc_error *err)
{
	const struct rpc_caller *c = call_ctx;

	*resultp = json_pack("{s:s, s:s, s:s}", "caller", c->id, "tls_client", c->tls_client,
	    "origin", c->untrusted_origin);
	return 0;
}

static const struct rpc_method methods[] = { { "test_whoami", m_whoami } };
static const struct rpc_table table = { methods, 1, NULL };

static char *
log_and_answer(void *ctx, const struct rpc_caller *caller, const char *untrusted_body,
    size_t len, unsigned *statusp)
{
	size_t i;

	pthread_mutex_lock(&log_lock);
	for (i = 0; i < len; i++)
		fputc(untrusted_body[i] == '\n' ? ' ' : untrusted_body[i], request_log);
	fputc('\n', request_log);
	fflush(request_log);
	pthread_mutex_unlock(&log_lock);
	return rpc_jsonrpc_handle_str(&table, (void *)(uintptr_t)caller, untrusted_body, len);
}

static int
serve(int argc, char **argv)
{
	const char *pins[MAX_PINS];
	struct rpc_http_config cfg = { "127.0.0.1", 0, (const char *[]){ "localhost" }, 1,
	    NULL, 0, 10, 16, NULL, NULL, pins, 0, 0, 0, 0 };
	const char *logpath = NULL;
	struct rpc_http *h;
	sigset_t sigs;
	int i, sig, r;

	for (i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--cert") == 0)
			cfg.tls_cert_file = argv[i + 1];
		else if (strcmp(argv[i], "--key") == 0)
			cfg.tls_key_file = argv[i + 1];
		else if (strcmp(argv[i], "--pin") == 0 && cfg.ntls_client_pins < MAX_PINS)
			pins[cfg.ntls_client_pins++] = argv[i + 1];
		else if (strcmp(argv[i], "--log") == 0)
			logpath = argv[i + 1];
		else if (strcmp(argv[i], "--port") == 0)
			cfg.port = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else
			break;
	}
	if (i != argc || logpath == NULL) {
		fprintf(stderr, "tls-echo: bad arguments to serve\n");
		return 2;
	}
	if ((request_log = fopen(logpath, "a")) == NULL) {
		fprintf(stderr, "tls-echo: %s: %s\n", logpath, strerror(errno));
		return 1;
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if ((r = rpc_http_start_fn(&cfg, log_and_answer, NULL, &h)) != 0) {
		fprintf(stderr, "tls-echo: cannot serve: %s\n", err_str(r));
		return 1;
	}
	fprintf(stderr, "tls-echo: listening on 127.0.0.1:%u\n", rpc_http_port(h));
	sigwait(&sigs, &sig);
	rpc_http_stop(h);
	fclose(request_log);
	return 0;
}

int
main(int argc, char **argv)
{
	char fp[RPC_TLS_FP_SIZE];
	int r;

	if (argc == 4 && strcmp(argv[1], "init") == 0) {
		if ((r = rpc_tls_init(argv[2], argv[3], fp)) != 0) {
			fprintf(stderr, "tls-echo: init: %s%s%s\n", err_str(r),
			    r == ERR_IO ? ": " : "", r == ERR_IO ? strerror(errno) : "");
			return 1;
		}
		printf("%s\n", fp);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "fingerprint") == 0) {
		if ((r = rpc_tls_fingerprint_file(argv[2], fp)) != 0) {
			fprintf(stderr, "tls-echo: %s: %s\n", argv[2], err_str(r));
			return 1;
		}
		printf("%s\n", fp);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "serve") == 0)
		return serve(argc, argv);
	fprintf(stderr, "usage: tls-echo init DIR NAME | fingerprint FILE | serve --cert F --key F "
	    "--pin FP... --log FILE [--port N]\n");
	return 2;
}
