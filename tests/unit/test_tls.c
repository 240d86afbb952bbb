/*
 * Mutual TLS (src/rpc/tls, the TLS side of src/rpc/http and src/relay): keys
 * and certificates made in a temporary folder, a real rpc_http server with
 * TLS and pins on 127.0.0.1, real handshakes with libcurl (OpenSSL) against
 * it, and the relay's server pin checked against a GnuTLS impostor that
 * records every byte it is sent.  Every wait is bounded.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gnutls/gnutls.h>

#include "core/err.h"
#include "relay/relay.h"
#include "rpc/caller.h"
#include "rpc/http.h"
#include "rpc/tls.h"
#include "testutil.h"
#include "tvec.h"

static char dir[] = "/tmp/p11s-tls-XXXXXX";
static char server_fp[RPC_TLS_FP_SIZE], client_fp[RPC_TLS_FP_SIZE], other_fp[RPC_TLS_FP_SIZE];
static char server_crt[300], server_key[300], client_crt[300], client_key[300];
static char other_crt[300], other_key[300];
static struct rpc_http *server;
static unsigned port;
static atomic_int calls;

/* Counts its calls; answers with what the transport says about the caller. */
static int
m_whoami(void *ctx, void *call_ctx, const json_t *params, json_t **resultp, struct rpc_error *err)
{
	const struct rpc_caller *c = call_ctx;

	atomic_fetch_add(&calls, 1);
	*resultp = json_pack("{s:s, s:s}", "id", c->id, "tls_client", c->tls_client);
	return 0;
}

static const struct rpc_method methods[] = { { "test_whoami", m_whoami } };
static const struct rpc_table table = { methods, 1, NULL };
static const char call[] = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"test_whoami\",\"params\":[]}";

static void
path_in_dir(char *out, size_t outlen, const char *name)
{
	snprintf(out, outlen, "%s/%s", dir, name);
}

/* ---- fingerprints and files ---- */

static void
test_fingerprint_parse(void **state)
{
	static const char hex[] = "ad3831cc3c3b506cad71d95227fe98263750c71036d606e38c7979f511cee086";
	static const struct {
		const char *text;
		int ok;
	} cases[] = {
		{ "sha256:ad3831cc3c3b506cad71d95227fe98263750c71036d606e38c7979f511cee086", 1 },
		{ "SHA256:AD3831CC3C3B506CAD71D95227FE98263750C71036D606E38C7979F511CEE086", 1 },
		{ "sha256:AD:38:31:CC:3C:3B:50:6C:AD:71:D9:52:27:FE:98:26:37:50:C7:10:36:D6:06:E3:8C:79:79:F5:11:CE:E0:86", 1 },
		{ "ad3831cc3c3b506cad71d95227fe98263750c71036d606e38c7979f511cee086", 0 },	/* no prefix */
		{ "sha1:ad3831cc3c3b506cad71d95227fe98263750c71036d606e38c7979f511cee086", 0 },
		{ "sha256:ad3831cc3c3b506cad71d95227fe98263750c71036d606e38c7979f511cee08", 0 },	/* short */
		{ "sha256:ad3831cc3c3b506cad71d95227fe98263750c71036d606e38c7979f511cee0866", 0 },	/* long */
		{ "sha256:ad3831cc3c3b506cad71d95227fe98263750c71036d606e38c7979f511cee08g", 0 },	/* not hex */
		{ "sha256: ad3831cc3c3b506cad71d95227fe98263750c71036d606e38c7979f511cee08", 0 },	/* space */
		{ "sha256:ad3831cc3c3b506cad71d95227fe98263750c71036d606e38c7979f511cee086\n", 0 },
		{ "sha256:AD:38:31:CC:3C:3B:50:6C:AD:71:D9:52:27:FE:98:26:37:50:C7:10:36:D6:06:E3:8C:79:79:F5:11:CE:E0:8:6", 0 },
		{ "sha256:AD38:31:CC:3C:3B:50:6C:AD:71:D9:52:27:FE:98:26:37:50:C7:10:36:D6:06:E3:8C:79:79:F5:11:CE:E0:86:", 0 },
		{ "sha256:", 0 },
		{ "", 0 },
	};
	unsigned char fp[RPC_TLS_FP_BYTES];
	char text[RPC_TLS_FP_SIZE];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = rpc_tls_fingerprint_parse(cases[i].text, fp);

		if ((r == 0) != cases[i].ok)
			fail_msg("case %zu \"%s\": got %d", i, cases[i].text, r);
		if (r == 0) {
			rpc_tls_fingerprint_format(fp, text);
			assert_string_equal(text + 7, hex);
			assert_memory_equal(text, "sha256:", 7);
		}
	}
	assert_int_equal(rpc_tls_fingerprint_parse(NULL, fp), ERR_INVALID_ARGUMENT);
}

static void
test_init_files(void **state)
{
	struct stat st;
	char fp[RPC_TLS_FP_SIZE], fp2[RPC_TLS_FP_SIZE], p[300];
	static const char *const bad_names[] = {
		"", ".hidden", "-x", "a/b", "../up", "sp ace", "nl\n",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",	/* 65 */
	};
	size_t i;

	/* Key 0600 whatever the umask; certificate 0644. */
	assert_int_equal(stat(server_key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(server_crt, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* The fingerprint returned is the file's. */
	assert_int_equal(rpc_tls_fingerprint_file(server_crt, fp), 0);
	assert_string_equal(fp, server_fp);
	assert_int_equal(strlen(fp), RPC_TLS_FP_SIZE - 1);
	/* Never overwritten. */
	errno = 0;
	assert_int_equal(rpc_tls_init(dir, "server", fp2), ERR_IO);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(rpc_tls_fingerprint_file(server_crt, fp), 0);
	assert_string_equal(fp, server_fp);
	/* The key exists but not the certificate: still refused, nothing left behind. */
	path_in_dir(p, sizeof(p), "half.key");
	fclose(fopen(p, "w"));
	assert_int_equal(rpc_tls_init(dir, "half", fp2), ERR_IO);
	path_in_dir(p, sizeof(p), "half.crt");
	assert_int_not_equal(access(p, F_OK), 0);
	path_in_dir(p, sizeof(p), "half.key");
	unlink(p);
	/* The certificate exists but not the key: the new key is removed again. */
	path_in_dir(p, sizeof(p), "half.crt");
	fclose(fopen(p, "w"));
	assert_int_equal(rpc_tls_init(dir, "half", fp2), ERR_IO);
	assert_int_equal(errno, EEXIST);
	path_in_dir(p, sizeof(p), "half.key");
	assert_int_not_equal(access(p, F_OK), 0);
	path_in_dir(p, sizeof(p), "half.crt");
	unlink(p);
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		if (rpc_tls_init(dir, bad_names[i], fp2) != ERR_INVALID_ARGUMENT)
			fail_msg("name \"%s\" accepted", bad_names[i]);
	errno = 0;
	assert_int_equal(rpc_tls_init("/nonexistent-p11s-dir", "x", fp2), ERR_IO);
	assert_int_equal(errno, ENOENT);
	/* Two keys are two certificates. */
	assert_string_not_equal(server_fp, client_fp);
}

/* What openssl or certtool says the fingerprint is, normalised; "" when the tool is missing. */
static void
tool_fingerprint(const char *cmd, char out[RPC_TLS_FP_SIZE])
{
	char line[512], *eq;
	unsigned char b[RPC_TLS_FP_BYTES];
	FILE *f = popen(cmd, "r");

	out[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		eq = strchr(line, '=');		/* openssl: "sha256 Fingerprint=AB:CD:..." */
		char buf[600];
		snprintf(buf, sizeof(buf), "sha256:%s", eq != NULL ? eq + 1 : line);
		if (rpc_tls_fingerprint_parse(buf, b) == 0)
			rpc_tls_fingerprint_format(b, out);
		else
			snprintf(out, RPC_TLS_FP_SIZE, "unparsed");
	}
	pclose(f);
}

static void
test_fingerprint_matches_tools(void **state)
{
	char cmd[700], got[RPC_TLS_FP_SIZE];
	int checked = 0;

	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -fingerprint -sha256 -in '%s' 2>/dev/null",
	    server_crt);
	tool_fingerprint(cmd, got);
	if (got[0] != '\0') {
		assert_string_equal(got, server_fp);
		checked++;
	}
	snprintf(cmd, sizeof(cmd), "certtool --fingerprint --hash sha256 --infile '%s' 2>/dev/null",
	    server_crt);
	tool_fingerprint(cmd, got);
	if (got[0] != '\0') {
		assert_string_equal(got, server_fp);
		checked++;
	}
	if (checked == 0)
		skip();		/* neither openssl nor certtool (gnutls-bin) installed */
}

static void
test_pem_refused(void **state)
{
	char fp[RPC_TLS_FP_SIZE], *pem, p[300];
	static const char not_a_cert[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
	size_t len;
	FILE *f;

	assert_int_equal(rpc_tls_fingerprint_pem("hello", 5, fp), ERR_INVALID_ARGUMENT);
	assert_int_equal(rpc_tls_fingerprint_pem(not_a_cert, strlen(not_a_cert), fp), ERR_INVALID_ARGUMENT);
	/* A key file is not a certificate. */
	assert_int_equal(rpc_tls_fingerprint_file(server_key, fp), ERR_INVALID_ARGUMENT);
	/* A key that others may read is refused, as ssh does. */
	path_in_dir(p, sizeof(p), "open.key");
	assert_int_equal(rpc_tls_pem_read(server_key, 1, &pem, &len), 0);
	f = fopen(p, "w");
	fwrite(pem, 1, len, f);
	fclose(f);
	rpc_tls_pem_free(pem, len);
	chmod(p, 0640);
	assert_int_equal(rpc_tls_pem_read(p, 1, &pem, &len), ERR_INVALID_ARGUMENT);
	assert_null(pem);
	assert_int_equal(rpc_tls_pem_read(p, 0, &pem, &len), 0);
	rpc_tls_pem_free(pem, len);
	unlink(p);
}

/* ---- the server ---- */

/* One POST (or GET when body is NULL) to the server; crt/key NULL: no client certificate. */
/* request() in one TLS version only (CURL_SSLVERSION_*; 0: curl's default range). */
static CURLcode
request_tls(const char *scheme, unsigned to_port, const char *crt, const char *key,
    const char *body, long tls_version, long *statusp, char **outp)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct testutil_sink s = { NULL, 0 };
	char url[64];
	CURLcode rc;

	*statusp = 0;
	snprintf(url, sizeof(url), "%s://127.0.0.1:%u/", scheme, to_port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, testutil_sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	/* This client checks the server by nothing: the relay's cases test pinning. */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	if (tls_version != 0)
		curl_easy_setopt(c, CURLOPT_SSLVERSION, tls_version);
	if (crt != NULL) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, crt);
		curl_easy_setopt(c, CURLOPT_SSLKEY, key);
	}
	if (body != NULL) {
		hl = curl_slist_append(hl, "Content-Type: application/json");
		hl = curl_slist_append(hl, "Expect:");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, statusp);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	*outp = s.p != NULL ? s.p : strdup("");
	return rc;
}

static CURLcode
request(const char *scheme, unsigned to_port, const char *crt, const char *key, const char *body,
    long *statusp, char **outp)
{
	return request_tls(scheme, to_port, crt, key, body, 0, statusp, outp);
}

static void
test_pinned_client_answered(void **state)
{
	int before = atomic_load(&calls);
	long status;
	char *out;
	json_t *j, *res;

	assert_int_equal(request("https", port, client_crt, client_key, call, &status, &out), CURLE_OK);
	assert_int_equal(status, 200);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	res = json_object_get(j, "result");
	/* id stays the peer address; the pinned certificate is beside it. */
	assert_string_equal(json_string_value(json_object_get(res, "id")), "127.0.0.1");
	assert_string_equal(json_string_value(json_object_get(res, "tls_client")), client_fp);
	assert_int_equal(atomic_load(&calls), before + 1);
	json_decref(j);
	free(out);
}

/* A refused caller: the request fails (no HTTP status at all) and no method runs. */
static void
expect_refused(const char *what, const char *scheme, const char *crt, const char *key,
    const char *body)
{
	int before = atomic_load(&calls);
	long status;
	char *out;
	CURLcode rc;

	rc = request(scheme, port, crt, key, body, &status, &out);
	if (rc == CURLE_OK || status != 0)
		fail_msg("%s: curl %d, HTTP %ld, body %s", what, rc, status, out);
	assert_int_equal(atomic_load(&calls), before);
	free(out);
}

static void
test_no_certificate_refused(void **state)
{
	expect_refused("no certificate", "https", NULL, NULL, call);
	expect_refused("no certificate, health check", "https", NULL, NULL, NULL);
}

static void
test_other_certificate_refused(void **state)
{
	expect_refused("self-signed certificate of another key", "https", other_crt, other_key, call);
	/* The server's own certificate is not a client pin either. */
	expect_refused("the server's certificate", "https", server_crt, server_key, call);
}

static void
test_plain_http_refused(void **state)
{
	expect_refused("plain HTTP", "http", NULL, NULL, call);
}

static void
test_tls12_too(void **state)
{
	/* GnuTLS runs the pin check in TLS 1.2 handshakes as in 1.3. */
	const long tls12 = (long)(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2);
	int before = atomic_load(&calls);
	long status = 0;
	char *out;

	assert_int_not_equal(request_tls("https", port, other_crt, other_key, call, tls12, &status,
	    &out), CURLE_OK);
	free(out);
	assert_int_equal(request_tls("https", port, client_crt, client_key, call, tls12, &status,
	    &out), CURLE_OK);
	assert_int_equal(status, 200);
	free(out);
	assert_int_equal(atomic_load(&calls), before + 1);
}

static void
test_several_pins(void **state)
{
	const char *pins[] = { other_fp, client_fp };
	struct rpc_http_config cfg = { "127.0.0.1", 0, (const char *[]){ "localhost" }, 1, NULL, 0,
	    5, 8, server_crt, server_key, pins, 2, 0, 0, 0 };
	struct rpc_http *h;
	long status;
	char *out;

	assert_int_equal(rpc_http_start(&cfg, &table, &h), 0);
	assert_int_equal(request("https", rpc_http_port(h), other_crt, other_key, call, &status, &out), CURLE_OK);
	assert_int_equal(status, 200);
	assert_non_null(strstr(out, other_fp));
	free(out);
	assert_int_equal(request("https", rpc_http_port(h), client_crt, client_key, call, &status, &out), CURLE_OK);
	assert_non_null(strstr(out, client_fp));
	free(out);
	rpc_http_stop(h);
}

static void
test_config_refused(void **state)
{
	const char *good[] = { client_fp };
	const char *bad[] = { "sha256:00" };
	char open_key[300], *pem;
	size_t len;
	FILE *f;
	struct {
		const char *cert, *key;
		const char *const *pins;
		size_t npins;
		int want;
	} cases[] = {
		{ server_crt, NULL, good, 1, ERR_INVALID_ARGUMENT },	/* no key */
		{ NULL, server_key, good, 1, ERR_INVALID_ARGUMENT },	/* no certificate */
		{ server_crt, server_key, NULL, 0, ERR_INVALID_ARGUMENT },	/* nobody pinned */
		{ server_crt, server_key, bad, 1, ERR_INVALID_ARGUMENT },
		{ NULL, NULL, good, 1, ERR_INVALID_ARGUMENT },	/* pins without TLS */
		{ server_crt, client_key, good, 1, ERR_IO },	/* key of another certificate */
		{ server_crt, "/nonexistent", good, 1, ERR_IO },
		{ server_key, server_key, good, 1, ERR_IO },	/* a key is no certificate */
		{ server_crt, open_key, good, 1, ERR_INVALID_ARGUMENT },	/* mode 0644 */
	};
	size_t i;

	path_in_dir(open_key, sizeof(open_key), "open2.key");
	assert_int_equal(rpc_tls_pem_read(server_key, 1, &pem, &len), 0);
	f = fopen(open_key, "w");
	fwrite(pem, 1, len, f);
	fclose(f);
	chmod(open_key, 0644);
	rpc_tls_pem_free(pem, len);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rpc_http_config cfg = { "127.0.0.1", 0, (const char *[]){ "localhost" }, 1,
		    NULL, 0, 5, 8, cases[i].cert, cases[i].key, cases[i].pins, cases[i].npins, 0, 0, 0 };
		struct rpc_http *h = NULL;
		int r = rpc_http_start(&cfg, &table, &h);

		if (r != cases[i].want)
			fail_msg("case %zu: got %s, want %s", i, err_name(r), err_name(cases[i].want));
		assert_null(h);
	}
	unlink(open_key);
}

/* ---- the relay ---- */

static char *
relay_call(const struct relay_config *cfg)
{
	struct rpc_caller caller;
	unsigned status = 0;
	char why[200], *out;

	if (relay_config_check(cfg, why, sizeof(why)) != 0)
		fail_msg("relay config refused: %s", why);
	memset(&caller, 0, sizeof(caller));
	out = relay_forward((void *)(uintptr_t)cfg, &caller, call, strlen(call), &status);
	assert_non_null(out);
	assert_int_equal(status, 200);
	return out;
}

/*
 * The relay against the pinned server: with the pinned client certificate
 * the call goes through (the server saw our fingerprint); with another one
 * the server refuses the connection and the caller hears so, with its id.
 */
static void
test_relay_pinned(void **state)
{
	const struct {
		const char *what, *crt, *key;
		const char *want[3];	/* in the answer; NULL: none more */
		int calls;		/* the server's calls it answered */
	} cases[] = {
		{ "pinned both ways", client_crt, client_key,
		  { "\"result\"", client_fp, NULL }, 1 },
		{ "client not pinned", other_crt, other_key,
		  { "\"code\":-32006", "refused the TLS connection", "\"id\":7" }, 0 },
	};
	char url[64], *out;
	size_t i, j;

	snprintf(url, sizeof(url), "https://127.0.0.1:%u/", port);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct relay_config cfg = { NULL, NULL, NULL, url, 10, cases[i].crt, cases[i].key,
		    server_fp, 0 };
		int before = atomic_load(&calls);

		out = relay_call(&cfg);
		for (j = 0; j < 3 && cases[i].want[j] != NULL; j++)
			if (strstr(out, cases[i].want[j]) == NULL)
				fail_msg("%s: no %s in %s", cases[i].what, cases[i].want[j], out);
		assert_int_equal(atomic_load(&calls), before + cases[i].calls);
		free(out);
	}
}

static void
test_relay_config(void **state)
{
	char why[200];
	const char *fp = server_fp;
	struct relay_config ok = { NULL, NULL, NULL, "https://10.0.0.1:8550/", 0, client_crt, client_key, fp, 0 };
	struct relay_config pin_only = { NULL, NULL, NULL, "https://10.0.0.1:8550/", 0, NULL, NULL, fp, 0 };
	struct relay_config cases[] = {
		{ NULL, NULL, NULL, "http://10.0.0.1:8550/", 0, client_crt, client_key, fp, 0 },	/* not https */
		{ "vault", NULL, NULL, NULL, 0, NULL, NULL, fp, 0 },	/* qrexec mode */
		{ NULL, NULL, NULL, "https://10.0.0.1:8550/", 0, client_crt, NULL, fp, 0 },	/* no key */
		{ NULL, NULL, NULL, "https://10.0.0.1:8550/", 0, NULL, client_key, fp, 0 },	/* no cert */
		{ NULL, NULL, NULL, "https://10.0.0.1:8550/", 0, client_crt, client_key, NULL, 0 },	/* server not pinned */
		{ NULL, NULL, NULL, "https://10.0.0.1:8550/", 0, NULL, NULL, "sha256:abc", 0 },
	};
	size_t i;

	assert_int_equal(relay_config_check(&ok, why, sizeof(why)), 0);
	assert_int_equal(relay_config_check(&pin_only, why, sizeof(why)), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (relay_config_check(&cases[i], why, sizeof(why)) == 0)
			fail_msg("relay case %zu accepted", i);
}

/*
 * An impostor: a GnuTLS server with the other certificate that accepts one
 * connection, completes the handshake (asking no client certificate) and
 * counts the application bytes it receives until the peer closes or 5 s pass.
 */
struct impostor {
	int lfd;
	unsigned port;
	pthread_t thread;
	int handshake_done;
	size_t received;
};

static void *
impostor_main(void *arg)
{
	struct impostor *im = arg;
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_session_t session = NULL;
	struct pollfd p = { im->lfd, POLLIN, 0 };
	struct timeval tv = { 5, 0 };
	char buf[4096];
	ssize_t n;
	int fd, r;

	if (poll(&p, 1, 10000) != 1 || (fd = accept(im->lfd, NULL, NULL)) < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	gnutls_certificate_allocate_credentials(&cred);
	gnutls_certificate_set_x509_key_file(cred, other_crt, other_key, GNUTLS_X509_FMT_PEM);
	gnutls_init(&session, GNUTLS_SERVER);
	gnutls_priority_set_direct(session, "NORMAL", NULL);
	gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_transport_set_int(session, fd);
	gnutls_handshake_set_timeout(session, 5000);
	do
		r = gnutls_handshake(session);
	while (r < 0 && gnutls_error_is_fatal(r) == 0);
	if (r == 0) {
		im->handshake_done = 1;
		/* Stop at the first bytes: they are the proof; the client then sees a close. */
		while ((n = gnutls_record_recv(session, buf, sizeof(buf))) == GNUTLS_E_INTERRUPTED)
			;
		if (n > 0)
			im->received += (size_t)n;
	}
	gnutls_deinit(session);
	gnutls_certificate_free_credentials(cred);
	close(fd);
	return NULL;
}

static void
impostor_start(struct impostor *im)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	memset(im, 0, sizeof(*im));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	im->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(im->lfd >= 0);
	assert_int_equal(bind(im->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(im->lfd, 4), 0);
	assert_int_equal(getsockname(im->lfd, (struct sockaddr *)&a, &alen), 0);
	im->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&im->thread, NULL, impostor_main, im), 0);
}

static void
impostor_stop(struct impostor *im)
{
	pthread_join(im->thread, NULL);
	close(im->lfd);
}

static void
test_relay_impostor_gets_nothing(void **state)
{
	struct impostor im;
	char url[64], *out;

	/* Control: pinned to the impostor's own certificate, the relay does send. */
	impostor_start(&im);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/", im.port);
	struct relay_config trusting = { NULL, NULL, NULL, url, 10, client_crt, client_key, other_fp, 0 };
	out = relay_call(&trusting);
	impostor_stop(&im);
	assert_true(im.handshake_done);
	assert_true(im.received > 0);
	free(out);

	/* Pinned to the real signer: the handshake completes, then not a byte is sent. */
	impostor_start(&im);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/", im.port);
	struct relay_config pinned = { NULL, NULL, NULL, url, 10, client_crt, client_key, server_fp, 0 };
	out = relay_call(&pinned);
	impostor_stop(&im);
	if (strstr(out, "\"code\":-32006") == NULL || strstr(out, "not the pinned one") == NULL ||
	    strstr(out, "nothing was sent") == NULL)
		fail_msg("got %s", out);
	assert_true(im.handshake_done);
	assert_int_equal(im.received, 0);
	free(out);
}

int
main(void)
{
	const char *pins[] = { client_fp };
	struct rpc_http_config cfg = { "127.0.0.1", 0, (const char *[]){ "localhost" }, 1, NULL, 0,
	    5, 8, server_crt, server_key, pins, 1, 0, 0, 0 };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint_parse),
		cmocka_unit_test(test_init_files),
		cmocka_unit_test(test_fingerprint_matches_tools),
		cmocka_unit_test(test_pem_refused),
		cmocka_unit_test(test_pinned_client_answered),
		cmocka_unit_test(test_no_certificate_refused),
		cmocka_unit_test(test_other_certificate_refused),
		cmocka_unit_test(test_plain_http_refused),
		cmocka_unit_test(test_tls12_too),
		cmocka_unit_test(test_several_pins),
		cmocka_unit_test(test_config_refused),
		cmocka_unit_test(test_relay_config),
		cmocka_unit_test(test_relay_pinned),
		cmocka_unit_test(test_relay_impostor_gets_nothing),
	};
	char rm[400];
	int failed;

	if (mkdtemp(dir) == NULL)
		return 1;
	/* A permissive umask must not loosen the key file. */
	umask(0);
	if (rpc_tls_init(dir, "server", server_fp) != 0 || rpc_tls_init(dir, "client", client_fp) != 0 ||
	    rpc_tls_init(dir, "other", other_fp) != 0) {
		printf("1..1\nnot ok 1 - cannot make keys and certificates in %s\n", dir);
		return 1;
	}
	umask(022);
	path_in_dir(server_crt, sizeof(server_crt), "server.crt");
	path_in_dir(server_key, sizeof(server_key), "server.key");
	path_in_dir(client_crt, sizeof(client_crt), "client.crt");
	path_in_dir(client_key, sizeof(client_key), "client.key");
	path_in_dir(other_crt, sizeof(other_crt), "other.crt");
	path_in_dir(other_key, sizeof(other_key), "other.key");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rpc_http_start(&cfg, &table, &server) != 0) {
		printf("1..1\nnot ok 1 - cannot start the TLS server on 127.0.0.1\n");
		return 1;
	}
	port = rpc_http_port(server);
	failed = cmocka_run_group_tests_name("tls", tests, NULL, NULL);
	rpc_http_stop(server);
	curl_global_cleanup();
	snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
	if (system(rm) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return failed != 0;
}
