#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/spawn.h"
#include "relay/qrexec_pool.h"
#include "relay/relay.h"
#include "rpc/jsonrpc.h"
#include "rpc/tls.h"

static char *
error_answer(const json_t *id, int code, const char *msg)
{
	json_t *j = rpc_jsonrpc_error_response(id, code, msg);
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

static int
valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n > 0 && n <= max && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

int
relay_config_check(const struct relay_config *cfg, char *why, size_t whylen)
{
	unsigned char fp[RPC_TLS_FP_BYTES];

	if ((cfg->vault == NULL) == (cfg->upstream == NULL)) {
		snprintf(why, whylen, "give either --vault (qrexec) or --upstream-signer (HTTP), not both");
		return ERR_INVALID_ARGUMENT;
	}
	/* "@default" lets dom0's policy pick the vault (default_target=). */
	if (cfg->vault != NULL && strcmp(cfg->vault, "@default") != 0 &&
	    (!valid_name(cfg->vault, LIMIT_QUBE_NAME) || cfg->vault[0] == '-')) {
		snprintf(why, whylen, "--vault: not a qube name");
		return ERR_INVALID_ARGUMENT;
	}
	if (cfg->profile != NULL && (!valid_name(cfg->profile, LIMIT_PROFILE_NAME) ||
	    strchr(cfg->profile, '.') != NULL)) {
		snprintf(why, whylen, "--profile: letters, digits, '_' and '-' only");
		return ERR_INVALID_ARGUMENT;
	}
	if (cfg->upstream != NULL && strncmp(cfg->upstream, "http://", 7) != 0 &&
	    strncmp(cfg->upstream, "https://", 8) != 0) {
		snprintf(why, whylen, "--upstream-signer: want an http:// or https:// URL");
		return ERR_INVALID_ARGUMENT;
	}
	if (cfg->tls_cert == NULL && cfg->tls_key == NULL && cfg->tls_server_fingerprint == NULL)
		return 0;
	if (cfg->upstream == NULL || strncmp(cfg->upstream, "https://", 8) != 0) {
		snprintf(why, whylen, "--tls.*: want an https:// --upstream-signer");
		return ERR_INVALID_ARGUMENT;
	}
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
		snprintf(why, whylen, "--tls.cert and --tls.key go together");
		return ERR_INVALID_ARGUMENT;
	}
	if (cfg->tls_server_fingerprint == NULL) {
		snprintf(why, whylen, "--tls.cert: pin the signer too, with --tls.server-fingerprint sha256:HEX");
		return ERR_INVALID_ARGUMENT;
	}
	if (rpc_tls_fingerprint_parse(cfg->tls_server_fingerprint, fp) != 0) {
		snprintf(why, whylen, "--tls.server-fingerprint: want sha256: and 64 hex digits");
		return ERR_INVALID_ARGUMENT;
	}
	return 0;
}

static unsigned
timeout_of(const struct relay_config *cfg)
{
	return cfg->timeout_s ? cfg->timeout_s : 300;
}

/* Run qrexec-client-vm with input on stdin; collect stdout.  *exitp is its exit status. */
static int
run_qrexec(const struct relay_config *cfg, const char *input, struct eth_buf *out, int *exitp)
{
	char service[96];
	const char *client = cfg->qrexec_client ? cfg->qrexec_client : "/usr/bin/qrexec-client-vm";
	char *argv[4];
	int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 }, r = ERR_IO;
	size_t off = 0, inlen = strlen(input);
	struct timespec due;
	pid_t pid = -1;
	int fds[3], spawn_errno, killed, status_or_sig;

	snprintf(service, sizeof(service), "p11signer.Sign+%s", cfg->profile ? cfg->profile : "default");
	argv[0] = (char *)(uintptr_t)client;
	argv[1] = (char *)(uintptr_t)cfg->vault;
	argv[2] = service;
	argv[3] = NULL;
	clock_deadline_ms(&due, (long long)timeout_of(cfg) * 1000);
	if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0)
		goto out;
	fds[0] = in_pipe[0];
	fds[1] = out_pipe[1];
	fds[2] = SPAWN_INHERIT;
	if (spawn_start(client, argv, fds, &pid, &spawn_errno) != 0)
		pid = -1;
	close(in_pipe[0]);
	close(out_pipe[1]);
	in_pipe[0] = out_pipe[1] = -1;
	if (pid < 0)
		goto out;
	fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
	/* Write the envelope and read the answer at once: neither side may block the other. */
	while (out_pipe[0] >= 0) {
		struct pollfd p[2] = { { out_pipe[0], POLLIN, 0 }, { in_pipe[1], POLLOUT, 0 } };
		int left = clock_ms_left(&due);
		char chunk[8192];
		ssize_t n;

		if (left <= 0) {
			r = ERR_TIMEOUT;
			goto out;
		}
		if (poll(p, in_pipe[1] >= 0 ? 2 : 1, left) < 0 && errno != EINTR)
			goto out;
		if (in_pipe[1] >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = write(in_pipe[1], input + off, inlen - off);
			if (n > 0)
				off += (size_t)n;
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				off = inlen;	/* the far end is gone; its exit status says why */
			if (off == inlen) {
				close(in_pipe[1]);
				in_pipe[1] = -1;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(out_pipe[0], chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(out_pipe[0]);
				out_pipe[0] = -1;
			} else if (eth_buf_put(out, chunk, (size_t)n) != 0) {
				r = ERR_TOO_LONG;
				goto out;
			}
		}
	}
	/* Its output is over: it exits now, or is killed at the deadline. */
	status_or_sig = spawn_reap_status(pid, clock_ms_left(&due), &killed);
	pid = -1;
	if (killed)
		r = ERR_TIMEOUT;
	else if (status_or_sig >= 0) {
		*exitp = status_or_sig;
		r = 0;
	}
 out:
	if (pid > 0)
		(void)spawn_reap_status(pid, 0, NULL);
	for (int i = 0; i < 2; i++) {
		if (in_pipe[i] >= 0)
			close(in_pipe[i]);
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
	}
	return r;
}

/* The same through an open framed call (relay/qrexec_pool.h). */
static int
run_qrexec_framed(const struct relay_config *cfg, const char *input, struct eth_buf *out, int *exitp)
{
	char service[96];

	snprintf(service, sizeof(service), "p11signer.Sign+%s", cfg->profile ? cfg->profile : "default");
	return relay_qrexec_pool_call(cfg->qrexec_client ? cfg->qrexec_client : "/usr/bin/qrexec-client-vm",
	    cfg->vault, service, cfg->qrexec_idle_s, input, strlen(input),
	    clock_now_ms() + (long long)timeout_of(cfg) * 1000, out, exitp);
}

static size_t
curl_collect(char *data, size_t size, size_t nmemb, void *cls)
{
	return eth_buf_put(cls, data, size * nmemb) == 0 ? size * nmemb : 0;
}

/* How TLS with the upstream signer failed, for the answer; details on stderr. */
enum upstream_tls {
	UPSTREAM_TLS_OK,
	UPSTREAM_TLS_PIN_MISMATCH,	/* nothing sent */
	UPSTREAM_TLS_NO_CERTINFO,	/* nothing sent */
	UPSTREAM_TLS_OWN_CERT,		/* our certificate or key unusable */
	UPSTREAM_TLS_REFUSED,		/* handshake failed or connection dropped */
};

struct upstream_pin {
	CURL *curl;
	unsigned char want[RPC_TLS_FP_BYTES];
	char got[RPC_TLS_FP_SIZE];	/* what the server presented; "" unknown */
	enum upstream_tls failed;
};

/*
 * Called by libcurl once the connection, TLS handshake included, is up and
 * before the request is sent: the server's certificate (index 0 of the chain
 * is the one whose key signed the handshake) must be the pinned one.
 */
static int
upstream_pin_check(void *clientp, char *primary_ip, char *local_ip, int primary_port,
    int local_port)
{
	struct upstream_pin *pin = clientp;
	struct curl_certinfo *ci = NULL;
	const struct curl_slist *e;
	const char *pem = NULL;

	if (curl_easy_getinfo(pin->curl, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci != NULL &&
	    ci->num_of_certs >= 1) {
		for (e = ci->certinfo[0]; e != NULL; e = e->next)
			if (strncmp(e->data, "Cert:", 5) == 0)
				pem = e->data + 5;
	}
	if (pem == NULL || rpc_tls_fingerprint_pem(pem, strlen(pem), pin->got) != 0) {
		pin->got[0] = '\0';
		pin->failed = UPSTREAM_TLS_NO_CERTINFO;
		return CURL_PREREQFUNC_ABORT;
	}
	if (!rpc_tls_pin_match(pin->got, (const unsigned char (*)[RPC_TLS_FP_BYTES])pin->want, 1)) {
		pin->failed = UPSTREAM_TLS_PIN_MISMATCH;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

static int
run_upstream(const struct relay_config *cfg, const struct rpc_caller *caller,
    const char *body, size_t len, struct eth_buf *out, long *statusp,
    enum upstream_tls *tlsp)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char hdr[RPC_CALLER_FIELD + 32], errbuf[CURL_ERROR_SIZE] = "";
	struct upstream_pin pin;
	CURLcode rc;

	*tlsp = UPSTREAM_TLS_OK;
	if (c == NULL)
		return ERR_NOMEM;
	memset(&pin, 0, sizeof(pin));
	pin.curl = c;
	h = curl_slist_append(h, "Content-Type: application/json");
	/* The dapp's claims travel as claims; the signer shows them as untrusted. */
	if (caller->untrusted_origin[0] != '\0') {
		snprintf(hdr, sizeof(hdr), "Origin: %s", caller->untrusted_origin);
		h = curl_slist_append(h, hdr);
	}
	if (caller->untrusted_user_agent[0] != '\0') {
		snprintf(hdr, sizeof(hdr), "User-Agent: %s", caller->untrusted_user_agent);
		h = curl_slist_append(h, hdr);
	}
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, cfg->upstream);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout_of(cfg));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (cfg->tls_server_fingerprint != NULL) {
		/* relay_config_check() parsed it already. */
		if (rpc_tls_fingerprint_parse(cfg->tls_server_fingerprint, pin.want) != 0) {
			curl_slist_free_all(h);
			curl_easy_cleanup(c);
			return ERR_INVALID_ARGUMENT;
		}
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
		curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
		/* The pin is the check: a self-signed certificate has no CA and
		 * the signer is reached by address. */
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
		/* Every request sees a full handshake, so a certificate to check. */
		curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
		curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
		/* The signer is on a direct link: no https_proxy from the environment. */
		curl_easy_setopt(c, CURLOPT_PROXY, "");
		curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
		curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, upstream_pin_check);
		curl_easy_setopt(c, CURLOPT_PREREQDATA, &pin);
	}
	if (cfg->tls_cert != NULL) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, cfg->tls_cert);
		curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(c, CURLOPT_SSLKEY, cfg->tls_key);
		curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, statusp);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (cfg->tls_server_fingerprint != NULL && rc != CURLE_OK) {
		if (pin.failed == UPSTREAM_TLS_PIN_MISMATCH) {
			log_msg("upstream %s presented certificate %s, not the pinned %s: "
			    "nothing was sent", cfg->upstream, pin.got, cfg->tls_server_fingerprint);
			*tlsp = UPSTREAM_TLS_PIN_MISMATCH;
		} else if (pin.failed == UPSTREAM_TLS_NO_CERTINFO) {
			log_msg("upstream %s: libcurl gives no server certificate to check "
			    "against the pin: nothing was sent", cfg->upstream);
			*tlsp = UPSTREAM_TLS_NO_CERTINFO;
		} else if (rc == CURLE_SSL_CERTPROBLEM) {
			log_msg("cannot use this relay's certificate %s or key %s: %s",
			    cfg->tls_cert ? cfg->tls_cert : "-", cfg->tls_key ? cfg->tls_key : "-", errbuf);
			*tlsp = UPSTREAM_TLS_OWN_CERT;
		} else if (rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_RECV_ERROR ||
		    rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING) {
			log_msg("upstream %s: TLS failed or the connection was dropped: %s",
			    cfg->upstream, errbuf);
			*tlsp = UPSTREAM_TLS_REFUSED;
		}
		if (*tlsp != UPSTREAM_TLS_OK)
			return ERR_IO;
	}
	if (rc != CURLE_OK)
		log_msg("upstream %s: %s", cfg->upstream, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return ERR_TIMEOUT;
	if (rc == CURLE_WRITE_ERROR)
		return ERR_TOO_LONG;
	return rc == CURLE_OK ? 0 : ERR_IO;
}

/* The far side's answer, if it is a JSON-RPC response object or batch. */
static json_t *
parse_reply(const struct eth_buf *out)
{
	json_t *j;

	if (rpc_jsonrpc_precheck((const char *)out->p, out->len) != 0)
		return NULL;
	j = json_loadb((const char *)out->p, out->len, JSON_REJECT_DUPLICATES, NULL);
	if (j != NULL && !json_is_object(j) && !json_is_array(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

char *
relay_forward(void *ctx, const struct rpc_caller *caller, const char *untrusted_body,
    size_t len, unsigned *statusp)
{
	const struct relay_config *cfg = ctx;
	json_t *req = NULL, *env = NULL, *reply = NULL;
	const json_t *id = NULL;
	struct eth_buf out;
	char *answer = NULL, *input = NULL, msg[160];
	int r, exit_code = -1;
	long http_status = 0;
	enum upstream_tls tls = UPSTREAM_TLS_OK;

	eth_buf_init(&out, LIMIT_JSON_BODY);
	if (rpc_jsonrpc_precheck(untrusted_body, len) != 0 ||
	    (req = json_loadb(untrusted_body, len, JSON_REJECT_DUPLICATES, NULL)) == NULL) {
		answer = error_answer(NULL, RPC_ERR_PARSE, "parse error");
		goto out;
	}
	id = json_is_object(req) ? json_object_get(req, "id") : NULL;
	if (cfg->upstream != NULL) {
		r = run_upstream(cfg, caller, untrusted_body, len, &out, &http_status, &tls);
	} else {
		env = json_pack("{s:i, s:{s:s, s:s, s:s, s:s}, s:O}", "p11signer_envelope", 1,
		    "metadata", "origin", caller->untrusted_origin, "host", caller->untrusted_local,
		    "user_agent", caller->untrusted_user_agent, "remote", caller->untrusted_remote,
		    "request", req);
		if (env == NULL || (input = json_dumps(env, JSON_COMPACT)) == NULL) {
			answer = error_answer(id, RPC_ERR_INTERNAL, "out of memory");
			goto out;
		}
		r = cfg->qrexec_idle_s > 0 ? run_qrexec_framed(cfg, input, &out, &exit_code) :
		    run_qrexec(cfg, input, &out, &exit_code);
	}
	if (tls == UPSTREAM_TLS_PIN_MISMATCH) {
		answer = error_answer(id, RELAY_ERR_TLS, "the upstream signer's TLS certificate "
		    "is not the pinned one (--tls.server-fingerprint): nothing was sent");
	} else if (tls == UPSTREAM_TLS_NO_CERTINFO) {
		answer = error_answer(id, RELAY_ERR_TLS, "cannot check the upstream signer's TLS "
		    "certificate against the pin: nothing was sent");
	} else if (tls == UPSTREAM_TLS_OWN_CERT) {
		answer = error_answer(id, RELAY_ERR_TLS, "this relay's TLS certificate or key "
		    "(--tls.cert, --tls.key) cannot be used");
	} else if (tls == UPSTREAM_TLS_REFUSED) {
		answer = error_answer(id, RELAY_ERR_TLS, "the upstream signer refused the TLS "
		    "connection: is this relay's certificate pinned on the signer?");
	} else if (r == ERR_TIMEOUT) {
		snprintf(msg, sizeof(msg), "the vault did not answer within %u s", timeout_of(cfg));
		answer = error_answer(id, RELAY_ERR_TIMEOUT, msg);
	} else if (r != 0) {
		answer = error_answer(id, RELAY_ERR_QREXEC, cfg->upstream ?
		    "cannot reach the upstream signer" : "cannot run qrexec-client-vm");
	} else if (exit_code == 126) {
		answer = error_answer(id, RELAY_ERR_POLICY_DENIED,
		    "request refused by the Qubes qrexec policy (exit 126): no line in dom0's "
		    "policy allows this qube, vault and profile, or the answer at dom0's "
		    "prompt was no");
	} else if (exit_code == 127) {
		/* The agent in the vault found nothing at /etc/qubes-rpc/SERVICE: no
		 * entry, or a symlink to a socket that is gone. */
		answer = error_answer(id, RELAY_ERR_NO_SERVICE,
		    "the vault has no p11signer.Sign service (exit 127): not installed there, "
		    "or the vault was not restarted after its template was, or the signer's "
		    "socket is gone (p11signer stopped and p11signer-qrexec.socket not enabled)");
	} else if (exit_code == 125) {
		/* The entry is a socket the agent could not connect to. */
		answer = error_answer(id, RELAY_ERR_QREXEC,
		    "qrexec could not connect the call in the vault (exit 125): the signer's "
		    "socket is stale (p11signer was killed and p11signer-qrexec.socket is not "
		    "enabled), or dom0's policy line lacks user=root so the vault's user "
		    "connected and the socket refused it, or qrexec itself failed");
	} else if (exit_code > 0) {
		snprintf(msg, sizeof(msg), "qrexec call to the vault failed (exit status %d)", exit_code);
		answer = error_answer(id, RELAY_ERR_QREXEC, msg);
	} else if (out.len == 0 && cfg->upstream == NULL && !json_is_array(req) && id == NULL) {
		answer = NULL;		/* a notification: nothing to say */
	} else if ((reply = parse_reply(&out)) == NULL) {
		snprintf(msg, sizeof(msg), "the %s answered something that is not JSON-RPC%s",
		    cfg->upstream ? "upstream signer" : "vault",
		    http_status >= 400 ? " (HTTP error)" : "");
		answer = error_answer(id, RELAY_ERR_BAD_ANSWER, msg);
	} else {
		answer = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
	}
 out:
	*statusp = 200;
	json_decref(req);
	json_decref(env);
	json_decref(reply);
	free(input);
	eth_buf_free(&out);
	return answer;
}
