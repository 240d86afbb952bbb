#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "eth/buf.h"
#include "eth/err.h"
#include "eth/limits.h"
#include "rpc/caller.h"
#include "rpc/http.h"

struct rpc_http {
	struct MHD_Daemon *daemon;
	struct rpc_http_config cfg;
	rpc_http_body_fn fn;
	void *fn_ctx;
	unsigned port;
};

/* Per-request state, from the first call of the access handler to completion. */
struct http_request {
	struct eth_buf untrusted_body;
	int too_large;
};

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

/* geth's virtual-host rule: no Host, an IP address, or a listed name. */
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
		if (end == NULL || (size_t)(end - untrusted_host - 1) >= sizeof(host))
			return 0;
		memcpy(host, untrusted_host + 1, (size_t)(end - untrusted_host - 1));
		host[end - untrusted_host - 1] = '\0';
	} else {
		colon = strrchr(untrusted_host, ':');
		if (colon != NULL && strchr(untrusted_host, ':') == colon)
			n = (size_t)(colon - untrusted_host);
		if (n >= sizeof(host))
			return 0;
		memcpy(host, untrusted_host, n);
		host[n] = '\0';
	}
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

static void
fill_caller(struct MHD_Connection *conn, struct rpc_caller *c)
{
	const union MHD_ConnectionInfo *ci;
	char host[NI_MAXHOST], serv[NI_MAXSERV], peer[NI_MAXHOST + NI_MAXSERV + 4];
	socklen_t slen;

	memset(c, 0, sizeof(*c));
	c->kind = RPC_CALLER_TCP;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL && ci->client_addr != NULL) {
		slen = ci->client_addr->sa_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		if (getnameinfo(ci->client_addr, slen, host, sizeof(host), serv,
		    sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
			snprintf(peer, sizeof(peer), ci->client_addr->sa_family == AF_INET6 ?
			    "[%s]:%s" : "%s:%s", host, serv);
			/* The port changes with every connection: a rule can only name the address. */
			rpc_caller_set(c->id, host);
			rpc_caller_set(c->untrusted_remote, peer);
		}
	}
	rpc_caller_set(c->untrusted_local,
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST));
	rpc_caller_set(c->untrusted_scheme, "HTTP/1.1");
	rpc_caller_set(c->untrusted_user_agent,
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT));
	rpc_caller_set(c->untrusted_origin,
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"));
	rpc_caller_set(c->untrusted_forwarded_for,
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For"));
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
	unsigned status;
	char *resp;

	if (req == NULL) {
		/* First call: headers only.  Decide everything that needs no body. */
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
	if (req->too_large)
		return respond_text(conn, h, MHD_HTTP_CONTENT_TOO_LARGE, "content length too large\n");
	fill_caller(conn, &caller);
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
	struct http_request *req = *req_cls;

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

int
rpc_http_start_fn(const struct rpc_http_config *cfg, rpc_http_body_fn fn, void *fn_ctx,
    struct rpc_http **outp)
{
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
	h->daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL,
	    access_handler, h,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_NOTIFY_COMPLETED, request_completed, h,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->idle_timeout_s ? cfg->idle_timeout_s : 30),
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)(cfg->max_connections ? cfg->max_connections : 64),
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
	free(h);
}
