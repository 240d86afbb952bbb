#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"
#include "rpc/caller.h"
#include "rpc/deadline.h"
#include "rpc/http.h"
#include "rpc/tls.h"

struct rpc_http {
	struct MHD_Daemon *daemon;
	struct rpc_http_config cfg;
	rpc_http_body_fn fn;
	void *fn_ctx;
	unsigned port;
	/* mutual TLS (tls set): the pins, and the PEM that MHD was given */
	int tls;
	unsigned char (*pins)[RPC_TLS_FP_BYTES];
	size_t npins;
	char *tls_key, *tls_cert;
	size_t tls_key_len, tls_cert_len;
	struct rpc_deadlines *deadlines;	/* of open connections (see "Deadlines") */
};

/* Per-request state, from the first call of the access handler to completion. */
struct http_request {
	struct eth_buf untrusted_body;
	int too_large;
	char tls_client[RPC_TLS_FP_SIZE];	/* "" without TLS */
};

/* Per TLS connection, from MHD_CONNECTION_NOTIFY_STARTED to _CLOSED. */
struct tls_conn {
	const struct rpc_http *h;
	int verdict;		/* 0 not checked; 1 pinned certificate; -1 refused (logged) */
	char peer[NI_MAXHOST + NI_MAXSERV + 4];
};

/*
 * Deadlines.  libmicrohttpd's connection timeout is an idle timeout, reset by
 * every byte, so a peer sending one header line every few seconds holds its
 * connection (and, 64 times over, the whole listener) for ever.  Each
 * connection here gets an absolute deadline instead (rpc/deadline.h): for
 * its headers from when it opens or its previous answer went out, for its
 * body from the end of its headers; none while its request is with the
 * signer (approval has its own timeout).  libmicrohttpd reports a
 * connection closed before it closes the descriptor, which is when it
 * leaves the watchdog's table.
 */
static void
notify_connection_deadline(const struct rpc_http *h, struct MHD_Connection *conn,
    enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		rpc_deadlines_remove(h->deadlines, conn);
		return;
	}
	if (toe != MHD_CONNECTION_NOTIFY_STARTED ||
	    (ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD)) == NULL)
		return;
	/* More connections than libmicrohttpd's own limit let in: not timed, not served. */
	if (rpc_deadlines_add(h->deadlines, conn, ci->connect_fd, h->cfg.header_deadline_s) != 0)
		shutdown(ci->connect_fd, SHUT_RDWR);
}

/*
 * Headers that two parsers could read two ways (request smuggling through a
 * proxy in front, or a Host that passes one check and means another).
 * libmicrohttpd 0.9.75 has no option that refuses these, so they are counted
 * here.
 */
struct header_count {
	unsigned content_length, transfer_encoding, host;
};

static enum MHD_Result
count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct header_count *hc = cls;

	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		hc->content_length++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		hc->transfer_encoding++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		hc->host++;
	return MHD_YES;
}

static int
headers_unambiguous(struct MHD_Connection *conn)
{
	struct header_count hc = { 0, 0, 0 };

	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &hc);
	return hc.content_length <= 1 && hc.transfer_encoding <= 1 && hc.host <= 1 &&
	    !(hc.content_length > 0 && hc.transfer_encoding > 0);
}

/* The peer as "ip:port" ("[ip]:port" for IPv6) in peer, and as "ip" in host
 * when host is not NULL; "?" when unknown. */
static void
peer_of(struct MHD_Connection *conn, char *peer, size_t peerlen, char *host, size_t hostlen)
{
	const union MHD_ConnectionInfo *ci;
	char h[NI_MAXHOST], serv[NI_MAXSERV];
	socklen_t slen;

	snprintf(peer, peerlen, "?");
	if (host != NULL)
		snprintf(host, hostlen, "?");
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	slen = ci->client_addr->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (getnameinfo(ci->client_addr, slen, h, sizeof(h), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	snprintf(peer, peerlen, ci->client_addr->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
	    h, serv);
	if (host != NULL)
		snprintf(host, hostlen, "%s", h);
}

/* The fingerprint of the certificate the TLS peer presented (and, the
 * handshake being done or at its verify step, holds the key of). */
static int
session_peer_fingerprint(gnutls_session_t session, char fp[RPC_TLS_FP_SIZE])
{
	const gnutls_datum_t *peers;
	unsigned n = 0;

	if (gnutls_certificate_type_get2(session, GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_X509)
		return ERR_INVALID_ARGUMENT;
	peers = gnutls_certificate_get_peers(session, &n);
	if (peers == NULL || n == 0)
		return ERR_INVALID_ARGUMENT;
	return rpc_tls_fingerprint_der(peers[0].data, peers[0].size, fp);
}

/*
 * GnuTLS calls this inside the handshake, once the client's certificate has
 * arrived; non-zero fails the handshake.  GNUTLS_CERT_REQUIRE already failed
 * it when no certificate came.  MHD sets the session's pointer to the
 * connection (checked when the hook is installed).
 */
static int
verify_client(gnutls_session_t session)
{
	struct MHD_Connection *conn = gnutls_session_get_ptr(session);
	const union MHD_ConnectionInfo *ci;
	struct tls_conn *tc;
	char fp[RPC_TLS_FP_SIZE];

	ci = conn != NULL ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
	if (ci == NULL || (tc = ci->socket_context) == NULL)
		return -1;
	if (session_peer_fingerprint(session, fp) != 0) {
		tc->verdict = -1;
		log_msg("TLS: refused %s: no X.509 client certificate", tc->peer);
		return -1;
	}
	if (!rpc_tls_pin_match(fp, tc->h->pins, tc->h->npins)) {
		tc->verdict = -1;
		log_msg("TLS: refused %s: client certificate %s is not pinned (handshake failed)",
		    tc->peer, fp);
		return -1;
	}
	tc->verdict = 1;
	return 0;
}

/* Before the handshake: require a client certificate and check it in the handshake. */
static void
notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	const struct rpc_http *h = cls;
	const union MHD_ConnectionInfo *ci;
	struct tls_conn *tc = *socket_context;
	gnutls_session_t session;

	notify_connection_deadline(h, conn, toe);
	if (!h->tls)
		return;
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (tc != NULL && tc->verdict == 0)
			log_msg("TLS: refused %s: no TLS handshake with a client certificate "
			    "(none sent, plain HTTP, or the handshake failed)", tc->peer);
		free(tc);
		*socket_context = NULL;
		return;
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	session = ci != NULL ? ci->tls_session : NULL;
	/* Without a session no certificate is asked for, and every request on
	 * this connection is refused 403 by the check in the access handler. */
	if (session == NULL) {
		log_msg("TLS: no TLS session to require a client certificate in: requests are refused (403)");
		return;
	}
	gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
	/* Without the hook any certificate passes the handshake, and the access
	 * handler's check refuses requests made with an unpinned one. */
	if (gnutls_session_get_ptr(session) != conn) {
		log_msg("TLS: cannot hook the TLS handshake: client certificates are checked per request only");
		return;
	}
	if ((tc = calloc(1, sizeof(*tc))) == NULL)
		return;
	tc->h = h;
	peer_of(conn, tc->peer, sizeof(tc->peer), NULL, 0);
	*socket_context = tc;
	gnutls_session_set_verify_function(session, verify_client);
}

/* Every request on a TLS listener, before anything else: the session's
 * client certificate must be pinned.  Fills fp. */
static int
tls_request_allowed(struct MHD_Connection *conn, const struct rpc_http *h, char fp[RPC_TLS_FP_SIZE])
{
	const union MHD_ConnectionInfo *ci;
	char peer[NI_MAXHOST + NI_MAXSERV + 4];

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci != NULL && ci->tls_session != NULL &&
	    session_peer_fingerprint(ci->tls_session, fp) == 0 &&
	    rpc_tls_pin_match(fp, h->pins, h->npins))
		return 1;
	peer_of(conn, peer, sizeof(peer), NULL, 0);
	log_msg("TLS: refused a request from %s: client certificate %s is not pinned (403)", peer,
	    ci != NULL && ci->tls_session != NULL &&
	    session_peer_fingerprint(ci->tls_session, fp) == 0 ? fp : "(none)");
	return 0;
}

static enum MHD_Result
respond(struct MHD_Connection *conn, const struct rpc_http *h, unsigned status,
    const char *content_type, char *body_malloced, size_t len)
{
	struct MHD_Response *resp;
	const char *origin;
	enum MHD_Result ret;
	size_t i;

	resp = MHD_create_response_from_buffer(len, body_malloced,
	    body_malloced != NULL ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		free(body_malloced);
		return MHD_NO;
	}
	if (content_type != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
	if (h->cfg.ncors > 0) {
		MHD_add_response_header(resp, "Vary", "Origin");
		for (i = 0; origin != NULL && i < h->cfg.ncors; i++) {
			if (strcmp(h->cfg.cors[i], "*") == 0 || strcasecmp(h->cfg.cors[i], origin) == 0) {
				MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
				MHD_add_response_header(resp, "Access-Control-Allow-Methods", "POST, GET");
				MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Content-Type");
				break;
			}
		}
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
respond_text(struct MHD_Connection *conn, const struct rpc_http *h, unsigned status,
    const char *text)
{
	char *copy = strdup(text);

	if (copy == NULL)
		return MHD_NO;
	return respond(conn, h, status, "text/plain; charset=utf-8", copy, strlen(copy));
}

/* A port after a host: ":" and 1 to 5 digits, or nothing. */
static int
valid_port_suffix(const char *untrusted_s)
{
	size_t n;

	if (*untrusted_s == '\0')
		return 1;
	if (*untrusted_s != ':')
		return 0;
	n = strspn(untrusted_s + 1, "0123456789");
	return n >= 1 && n <= 5 && untrusted_s[1 + n] == '\0';
}

/* geth's virtual-host rule: no Host, an IP address, or a listed name.  The
 * Host must be HOST, HOST:PORT, [V6] or [V6]:PORT and nothing else, so that
 * "[::1]evil.com" is not taken for the address ::1. */
static int
vhost_allowed(const struct rpc_http *h, const char *untrusted_host)
{
	char host[256];
	struct in6_addr a6;
	struct in_addr a4;
	size_t i, n;
	const char *colon;

	if (untrusted_host == NULL || *untrusted_host == '\0')
		return 1;
	n = strlen(untrusted_host);
	if (untrusted_host[0] == '[') {			/* [v6]:port */
		const char *end = strchr(untrusted_host, ']');
		if (end == NULL || (size_t)(end - untrusted_host - 1) >= sizeof(host) ||
		    !valid_port_suffix(end + 1))
			return 0;
		memcpy(host, untrusted_host + 1, (size_t)(end - untrusted_host - 1));
		host[end - untrusted_host - 1] = '\0';
		/* Brackets hold an IPv6 address and nothing else. */
		return inet_pton(AF_INET6, host, &a6) == 1;
	}
	colon = strrchr(untrusted_host, ':');
	if (colon != NULL && strchr(untrusted_host, ':') == colon) {
		if (!valid_port_suffix(colon))
			return 0;
		n = (size_t)(colon - untrusted_host);
	}
	if (n >= sizeof(host))
		return 0;
	memcpy(host, untrusted_host, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1)
		return 1;
	for (i = 0; i < h->cfg.nvhosts; i++)
		if (strcmp(h->cfg.vhosts[i], "*") == 0 || strcasecmp(h->cfg.vhosts[i], host) == 0)
			return 1;
	return 0;
}

static int
content_type_allowed(const char *untrusted_ct)
{
	static const char *const allowed[] = {
		"application/json", "application/json-rpc", "application/jsonrequest",
	};
	size_t i, n;

	if (untrusted_ct == NULL)
		return 0;
	n = strcspn(untrusted_ct, ";");
	while (n > 0 && untrusted_ct[n - 1] == ' ')
		n--;
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strlen(allowed[i]) == n && strncasecmp(untrusted_ct, allowed[i], n) == 0)
			return 1;
	return 0;
}

/* The connection's socket, so that a caller who hangs up is noticed (caller.h). */
static void
watch_connection(struct MHD_Connection *conn, struct rpc_caller *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL && ci->connect_fd != MHD_INVALID_SOCKET) {
		c->watch = RPC_WATCH_HANGUP_OR_EOF;
		c->conn_fd = ci->connect_fd;
	}
}

static void
fill_caller(struct MHD_Connection *conn, const struct http_request *req, struct rpc_caller *c)
{
	char host[NI_MAXHOST], peer[NI_MAXHOST + NI_MAXSERV + 4];

	memset(c, 0, sizeof(*c));
	c->kind = RPC_CALLER_TCP;
	peer_of(conn, peer, sizeof(peer), host, sizeof(host));
	if (strcmp(host, "?") != 0) {
		/* The port changes with every connection: a rule can only name the address. */
		rpc_caller_set(c->id, host);
		rpc_caller_set(c->untrusted_remote, peer);
	}
	rpc_caller_set(c->tls_client, req->tls_client);
	rpc_caller_set(c->untrusted_local,
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST));
	rpc_caller_set(c->untrusted_scheme, "http");	/* Clef: the transport, not r.Proto */
	rpc_caller_set(c->untrusted_user_agent,
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT));
	rpc_caller_set(c->untrusted_origin,
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"));
	rpc_caller_set(c->untrusted_forwarded_for,
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For"));
	watch_connection(conn, c);
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	struct rpc_http *h = cls;
	struct http_request *req = *req_cls;
	const char *clen;
	struct rpc_caller caller;
	char tls_client[RPC_TLS_FP_SIZE] = "";
	unsigned status;
	char *resp;

	if (req == NULL) {
		/* First call: headers only.  Decide everything that needs no body. */
		/* The body, if any, is due from now; its headers were in time. */
		rpc_deadlines_set(h->deadlines, conn, h->cfg.body_deadline_s);
		if (h->tls && !tls_request_allowed(conn, h, tls_client))
			return respond_text(conn, h, MHD_HTTP_FORBIDDEN, "client certificate not allowed\n");
		if (!headers_unambiguous(conn))
			return respond_text(conn, h, MHD_HTTP_BAD_REQUEST,
			    "duplicate Content-Length, Transfer-Encoding or Host, "
			    "or Transfer-Encoding with Content-Length\n");
		if (!vhost_allowed(h, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_HOST)))
			return respond_text(conn, h, MHD_HTTP_FORBIDDEN, "invalid host specified\n");
		if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0) {
			clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
			    MHD_HTTP_HEADER_CONTENT_LENGTH);
			if ((clen == NULL || strcmp(clen, "0") == 0) &&
			    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, NULL) == NULL)
				return respond_text(conn, h, MHD_HTTP_OK, "ok\n");
			return respond_text(conn, h, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
		}
		if (strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0 && h->cfg.ncors > 0)
			return respond(conn, h, MHD_HTTP_OK, NULL, NULL, 0);
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return respond_text(conn, h, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
		clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen != NULL && (strlen(clen) > 9 || strtoul(clen, NULL, 10) > LIMIT_JSON_BODY))
			return respond_text(conn, h, MHD_HTTP_CONTENT_TOO_LARGE, "content length too large\n");
		if (!content_type_allowed(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_TYPE)))
			return respond_text(conn, h, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
			    "invalid content type, only application/json is supported\n");
		if ((req = calloc(1, sizeof(*req))) == NULL)
			return MHD_NO;
		eth_buf_init(&req->untrusted_body, LIMIT_JSON_BODY);
		memcpy(req->tls_client, tls_client, sizeof(tls_client));
		*req_cls = req;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		/* Chunked bodies have no Content-Length: the cap applies as they arrive. */
		if (!req->too_large &&
		    eth_buf_put(&req->untrusted_body, upload_data, *upload_data_size) != 0) {
			req->too_large = 1;
			eth_buf_free(&req->untrusted_body);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* The whole body is in: no deadline while the signer (and perhaps a
	 * person) decides. */
	rpc_deadlines_set(h->deadlines, conn, 0);
	if (req->too_large)
		return respond_text(conn, h, MHD_HTTP_CONTENT_TOO_LARGE, "content length too large\n");
	fill_caller(conn, req, &caller);
	status = MHD_HTTP_OK;
	resp = h->fn(h->fn_ctx, &caller, (const char *)req->untrusted_body.p,
	    req->untrusted_body.len, &status);
	if (resp == NULL)	/* notifications only */
		return respond(conn, h, status, "application/json", NULL, 0);
	return respond(conn, h, status, "application/json", resp, strlen(resp));
}

static void
request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	const struct rpc_http *h = cls;
	struct http_request *req = *req_cls;

	/* Answered: the next request's headers are due (keep-alive). */
	rpc_deadlines_set(h->deadlines, conn, h->cfg.header_deadline_s);
	if (req == NULL)
		return;
	eth_buf_free(&req->untrusted_body);
	free(req);
	*req_cls = NULL;
}

/* The signer's body handler: JSON-RPC against a method table. */
static char *
jsonrpc_body(void *ctx, const struct rpc_caller *caller, const char *untrusted_body,
    size_t len, unsigned *statusp)
{
	return rpc_jsonrpc_handle_str(ctx, (void *)(uintptr_t)caller, untrusted_body, len);
}

int
rpc_http_start(const struct rpc_http_config *cfg, const struct rpc_table *table,
    struct rpc_http **outp)
{
	return rpc_http_start_fn(cfg, jsonrpc_body, (void *)(uintptr_t)table, outp);
}

/* TLS 1.2 and 1.3 only; the rest of GnuTLS's NORMAL set. */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Check the TLS part of cfg, read its files and parse its pins into h. */
static int
tls_setup(struct rpc_http *h, const struct rpc_http_config *cfg)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_datum_t c, k;
	char fp[RPC_TLS_FP_SIZE];
	size_t i;
	int r, g;

	if (cfg->tls_cert_file == NULL && cfg->tls_key_file == NULL) {
		log_msg("TLS: client pins need TLS: give a certificate and its key");
		return ERR_INVALID_ARGUMENT;
	}
	if (cfg->tls_cert_file == NULL || cfg->tls_key_file == NULL) {
		log_msg("TLS: give both a certificate and its key");
		return ERR_INVALID_ARGUMENT;
	}
	if (cfg->ntls_client_pins == 0 || cfg->tls_client_pins == NULL) {
		log_msg("TLS: no client certificate pinned: nobody could call");
		return ERR_INVALID_ARGUMENT;
	}
	if ((h->pins = calloc(cfg->ntls_client_pins, sizeof(*h->pins))) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < cfg->ntls_client_pins; i++) {
		if (rpc_tls_fingerprint_parse(cfg->tls_client_pins[i], h->pins[i]) != 0) {
			log_msg("TLS: client pin %zu is not sha256:HEX (64 hex digits)", i + 1);
			return ERR_INVALID_ARGUMENT;
		}
	}
	h->npins = cfg->ntls_client_pins;
	if ((r = rpc_tls_pem_read(cfg->tls_cert_file, 0, &h->tls_cert, &h->tls_cert_len)) != 0) {
		log_msg("TLS: certificate %s: %s", cfg->tls_cert_file,
		    r == ERR_IO ? strerror(errno) : err_str(r));
		return r;
	}
	if (rpc_tls_fingerprint_pem(h->tls_cert, h->tls_cert_len, fp) != 0) {
		log_msg("TLS: certificate %s: not a PEM X.509 certificate", cfg->tls_cert_file);
		return ERR_IO;
	}
	if ((r = rpc_tls_pem_read(cfg->tls_key_file, 1, &h->tls_key, &h->tls_key_len)) != 0) {
		log_msg("TLS: key %s: %s", cfg->tls_key_file, r == ERR_INVALID_ARGUMENT ?
		    "group or others may read it (chmod 600)" :
		    r == ERR_IO ? strerror(errno) : err_str(r));
		return r;
	}
	/* Say what is wrong with the pair here rather than let MHD fail vaguely. */
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return ERR_NOMEM;
	c.data = (unsigned char *)h->tls_cert;
	c.size = (unsigned)h->tls_cert_len;
	k.data = (unsigned char *)h->tls_key;
	k.size = (unsigned)h->tls_key_len;
	g = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(cred);
	if (g < 0) {
		log_msg("TLS: %s with %s: %s", cfg->tls_cert_file, cfg->tls_key_file, gnutls_strerror(g));
		return ERR_IO;
	}
	h->tls = 1;
	return 0;
}

int
rpc_http_start_fn(const struct rpc_http_config *cfg, rpc_http_body_fn fn, void *fn_ctx,
    struct rpc_http **outp)
{
	struct MHD_OptionItem tls_opts[4];
	struct rpc_http *h = NULL;
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_POLL | MHD_USE_ERROR_LOG;
	int r;

	*outp = NULL;
	memset(&ss, 0, sizeof(ss));
	if (cfg->addr != NULL && inet_pton(AF_INET, cfg->addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)cfg->port);
	} else if (cfg->addr != NULL && inet_pton(AF_INET6, cfg->addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)cfg->port);
		flags |= MHD_USE_IPv6;
	} else
		return ERR_INVALID_ARGUMENT;
	if (cfg->port > 65535)
		return ERR_INVALID_ARGUMENT;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return ERR_NOMEM;
	h->cfg = *cfg;
	h->fn = fn;
	h->fn_ctx = fn_ctx;
	if (h->cfg.idle_timeout_s == 0)
		h->cfg.idle_timeout_s = 30;
	if (h->cfg.max_connections == 0)
		h->cfg.max_connections = LIMIT_HTTP_CONNECTIONS;
	if (h->cfg.max_per_addr == 0)
		h->cfg.max_per_addr = LIMIT_HTTP_PER_ADDR;
	if (h->cfg.header_deadline_s == 0)
		h->cfg.header_deadline_s = LIMIT_HTTP_HEADER_SECONDS;
	if (h->cfg.body_deadline_s == 0)
		h->cfg.body_deadline_s = LIMIT_HTTP_BODY_SECONDS;
	if ((r = rpc_deadlines_start(h->cfg.max_connections, &h->deadlines)) != 0)
		goto out;
	tls_opts[0] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	if (cfg->tls_cert_file != NULL || cfg->tls_key_file != NULL || cfg->ntls_client_pins > 0) {
		if ((r = tls_setup(h, cfg)) != 0)
			goto out;
		flags |= MHD_USE_TLS;
		tls_opts[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key };
		tls_opts[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert };
		tls_opts[2] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
		    (void *)(uintptr_t)HTTP_TLS_PRIORITIES };
		tls_opts[3] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	}
	h->daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL,
	    access_handler, h,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_NOTIFY_COMPLETED, request_completed, h,
	    MHD_OPTION_NOTIFY_CONNECTION, notify_connection, h,
	    MHD_OPTION_ARRAY, tls_opts,
	    MHD_OPTION_CONNECTION_TIMEOUT, h->cfg.idle_timeout_s,
	    MHD_OPTION_CONNECTION_LIMIT, h->cfg.max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->cfg.max_per_addr,
	    MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
	    MHD_OPTION_END);
	if (h->daemon == NULL) {
		r = ERR_IO;
		goto out;
	}
	di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di != NULL ? di->port : cfg->port;
	*outp = h;
	h = NULL;
	r = 0;
 out:
	rpc_http_stop(h);
	return r;
}

unsigned
rpc_http_port(const struct rpc_http *h)
{
	return h->port;
}

void
rpc_http_stop(struct rpc_http *h)
{
	if (h == NULL)
		return;
	if (h->daemon != NULL)
		MHD_stop_daemon(h->daemon);
	rpc_deadlines_stop(h->deadlines);
	free(h->pins);
	rpc_tls_pem_free(h->tls_key, h->tls_key_len);
	rpc_tls_pem_free(h->tls_cert, h->tls_cert_len);
	free(h);
}
