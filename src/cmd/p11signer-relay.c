/*
 * p11signer-relay - the networked-side bridge: HTTP on 127.0.0.1:8550 to the
 * vault's signer through qrexec (--vault) or HTTP(S) (--upstream-signer),
 * optionally over mutual TLS (--tls.*).  See docs/qubes.md, docs/tls.md and
 * src/relay/relay.h.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/parse.h"
#include "relay/eth.h"
#include "relay/qrexec_pool.h"
#include "relay/relay.h"
#include "rpc/http.h"
#include "rpc/tls.h"

#define RELAY_MAX_HOSTS 16

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: p11signer-relay --vault QUBE [--profile NAME] [--qrexec-client PATH]\n"
	    "       p11signer-relay --upstream-signer URL\n"
	    "       p11signer-relay --upstream-signer https://ADDR:PORT/ --tls.cert FILE --tls.key FILE\n"
	    "                       --tls.server-fingerprint sha256:HEX\n"
	    "  --upstream-node URL     also serve eth_*: sign through the vault, pass every\n"
	    "                          other method to this node (http:// or https://)\n"
	    "  --upstream-node.timeout SECONDS\n"
	    "                          per call to the node (default 30)\n"
	    "  --http.addr ADDR        listen address (default 127.0.0.1)\n"
	    "  --http.port PORT        listen port (default 8550)\n"
	    "  --http.vhosts LIST      comma-separated Host names accepted (default localhost)\n"
	    "  --http.corsdomain LIST  comma-separated origins sent CORS headers (default none)\n"
	    "  --timeout SECONDS       per request, approval included (default 300)\n"
	    "  --qrexec-idle SECONDS   keep qrexec calls open for framed requests, closed\n"
	    "                          after this long idle or old (default 10; 0: one\n"
	    "                          qrexec call per request)\n"
	    "  --tls.cert FILE         this relay's TLS client certificate (PEM; from\n"
	    "                          `p11signer tls init`), for a signer that pins it\n"
	    "  --tls.key FILE          its key (PEM, mode 0600)\n"
	    "  --tls.server-fingerprint sha256:HEX\n"
	    "                          the signer's certificate (SHA-256 of its DER, as\n"
	    "                          `openssl x509 -noout -fingerprint -sha256` shows);\n"
	    "                          checked after the handshake, before anything is sent;\n"
	    "                          replaces CA and host-name checks (docs/tls.md)\n");
}

/* Split a comma-separated list in place into at most max entries. */
static size_t
split_list(char *s, const char **out, size_t max)
{
	size_t n = 0;
	char *save = NULL, *tok;

	for (tok = strtok_r(s, ",", &save); tok != NULL && n < max; tok = strtok_r(NULL, ",", &save))
		out[n++] = tok;
	return n;
}

int
main(int argc, char **argv)
{
	enum { O_VAULT = 256, O_PROFILE, O_UPSTREAM, O_QREXEC, O_ADDR, O_PORT, O_VHOSTS, O_CORS, O_TIMEOUT,
	    O_TLS_CERT, O_TLS_KEY, O_TLS_SERVER_FP, O_NODE, O_NODE_TIMEOUT, O_QREXEC_IDLE };
	static const struct option opts[] = {
		{ "vault", required_argument, NULL, O_VAULT },
		{ "profile", required_argument, NULL, O_PROFILE },
		{ "upstream-signer", required_argument, NULL, O_UPSTREAM },
		{ "qrexec-client", required_argument, NULL, O_QREXEC },
		{ "qrexec-idle", required_argument, NULL, O_QREXEC_IDLE },
		{ "http.addr", required_argument, NULL, O_ADDR },
		{ "http.port", required_argument, NULL, O_PORT },
		{ "http.vhosts", required_argument, NULL, O_VHOSTS },
		{ "http.corsdomain", required_argument, NULL, O_CORS },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "tls.cert", required_argument, NULL, O_TLS_CERT },
		{ "tls.key", required_argument, NULL, O_TLS_KEY },
		{ "tls.server-fingerprint", required_argument, NULL, O_TLS_SERVER_FP },
		{ "upstream-node", required_argument, NULL, O_NODE },
		{ "upstream-node.timeout", required_argument, NULL, O_NODE_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct relay_config cfg = { NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, 10 };
	const char *vhosts[RELAY_MAX_HOSTS] = { "localhost" }, *cors[RELAY_MAX_HOSTS];
	struct rpc_http_config hc = { "127.0.0.1", 8550, vhosts, 1, cors, 0, 30, 64, NULL, NULL, NULL, 0, 0, 0, 0 };
	struct rpc_http *h = NULL;
	struct relay_eth *eth = NULL;
	const char *node_url = NULL;
	unsigned node_timeout = 0;
	unsigned long num;
	char why[160], fp[RPC_TLS_FP_SIZE], *key = NULL;
	size_t keylen = 0;
	sigset_t sigs;
	int c, sig, r;

	log_init("p11signer-relay");
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_VAULT: cfg.vault = optarg; break;
		case O_PROFILE: cfg.profile = optarg; break;
		case O_UPSTREAM: cfg.upstream = optarg; break;
		case O_QREXEC: cfg.qrexec_client = optarg; break;
		case O_QREXEC_IDLE:
			if (parse_unsigned(optarg, LIMIT_QREXEC_CONN_IDLE_S, &num) != 0) {
				log_msg("--qrexec-idle wants 0 to %d seconds",
				    LIMIT_QREXEC_CONN_IDLE_S);
				return 2;
			}
			cfg.qrexec_idle_s = (unsigned)num;
			break;
		case O_ADDR: hc.addr = optarg; break;
		case O_PORT:
			if (parse_unsigned(optarg, 65535, &num) != 0) {
				log_msg("--http.port wants 0 to 65535");
				return 2;
			}
			hc.port = (unsigned)num;
			break;
		case O_VHOSTS: hc.nvhosts = split_list(optarg, vhosts, RELAY_MAX_HOSTS); break;
		case O_CORS: hc.ncors = split_list(optarg, cors, RELAY_MAX_HOSTS); break;
		case O_TIMEOUT:
			if (parse_unsigned(optarg, 86400, &num) != 0 || num == 0) {
				log_msg("--timeout wants 1 to 86400 seconds");
				return 2;
			}
			cfg.timeout_s = (unsigned)num;
			break;
		case O_TLS_CERT: cfg.tls_cert = optarg; break;
		case O_TLS_KEY: cfg.tls_key = optarg; break;
		case O_TLS_SERVER_FP: cfg.tls_server_fingerprint = optarg; break;
		case O_NODE: node_url = optarg; break;
		case O_NODE_TIMEOUT:
			if (parse_unsigned(optarg, 3600, &num) != 0 || num == 0) {
				log_msg("--upstream-node.timeout wants 1 to 3600 seconds");
				return 2;
			}
			node_timeout = (unsigned)num;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (relay_config_check(&cfg, why, sizeof(why)) != 0) {
		log_msg("%s", why);
		return 2;
	}
	/* libcurl reads the files at each request: find a mistake now instead. */
	if (cfg.tls_cert != NULL) {
		if ((r = rpc_tls_fingerprint_file(cfg.tls_cert, fp)) != 0) {
			log_msg("--tls.cert %s: %s", cfg.tls_cert,
			    r == ERR_IO ? strerror(errno) : "not a PEM certificate");
			return 2;
		}
		if ((r = rpc_tls_pem_read(cfg.tls_key, 1, &key, &keylen)) != 0) {
			log_msg("--tls.key %s: %s", cfg.tls_key,
			    r == ERR_INVALID_ARGUMENT ? "group or others may read it (chmod 600)" :
			    r == ERR_IO ? strerror(errno) : err_str(r));
			return 2;
		}
		rpc_tls_pem_free(key, keylen);
		log_msg("TLS client certificate %s (pin it on the signer)", fp);
	}
	/* Signals are taken synchronously below; every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (node_url != NULL && (r = relay_eth_new(&cfg, node_url, node_timeout, &eth)) != 0) {
		log_msg("--upstream-node: %s", r == ERR_INVALID_ARGUMENT ?
		    "want an http:// or https:// URL" : err_str(r));
		return 2;
	}
	if ((r = eth != NULL ? rpc_http_start_fn(&hc, relay_eth_handle, eth, &h) :
	    rpc_http_start_fn(&hc, relay_forward, &cfg, &h)) != 0) {
		log_msg("cannot listen on %s port %u: %s", hc.addr, hc.port, err_str(r));
		return 1;
	}
	log_msg("listening on %s:%u, forwarding to %s%s%s%s%s", hc.addr,
	    rpc_http_port(h), cfg.vault ? "qube " : "", cfg.vault ? cfg.vault : cfg.upstream,
	    cfg.vault ? " over qrexec" : "", eth ? "; eth_* with the node at " : "",
	    eth ? node_url : "");
	sigwait(&sigs, &sig);
	rpc_http_stop(h);
	relay_qrexec_pool_close_all();
	relay_eth_free(eth);
	curl_global_cleanup();
	return 0;
}
