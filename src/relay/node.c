#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"
#include "relay/node.h"
#include "rpc/jsonrpc.h"

struct relay_node {
	char *url;
	unsigned timeout_s;
	CURLSH *share;
	/* One lock per curl_lock_data kind the share handle asks for. */
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
	unsigned long next_id;
	pthread_mutex_t id_lock;
};

static void
share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *ctx)
{
	struct relay_node *n = ctx;

	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&n->locks[data]);
}

static void
share_unlock(CURL *c, curl_lock_data data, void *ctx)
{
	struct relay_node *n = ctx;

	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&n->locks[data]);
}

int
relay_node_new(const char *url, unsigned timeout_s, struct relay_node **outp)
{
	struct relay_node *n = NULL;
	size_t i;
	int r = ERR_NOMEM;

	*outp = NULL;
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return ERR_INVALID_ARGUMENT;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		goto out;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&n->locks[i], NULL);
	pthread_mutex_init(&n->id_lock, NULL);
	n->timeout_s = timeout_s ? timeout_s : 30;
	if ((n->url = strdup(url)) == NULL || (n->share = curl_share_init()) == NULL)
		goto out;
	curl_share_setopt(n->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(n->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(n->share, CURLSHOPT_USERDATA, n);
	curl_share_setopt(n->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(n->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(n->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	*outp = n;
	n = NULL;
	r = 0;
 out:
	relay_node_free(n);
	return r;
}

void
relay_node_free(struct relay_node *n)
{
	size_t i;

	if (n == NULL)
		return;
	if (n->share != NULL)
		curl_share_cleanup(n->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&n->locks[i]);
	pthread_mutex_destroy(&n->id_lock);
	free(n->url);
	free(n);
}

const char *
relay_node_url(const struct relay_node *n)
{
	return n->url;
}

static size_t
collect(char *data, size_t size, size_t nmemb, void *cls)
{
	return eth_buf_put(cls, data, size * nmemb) == 0 ? size * nmemb : 0;
}

int
relay_node_post(struct relay_node *n, const char *body, size_t len,
    char **answerp, size_t *lenp, long *statusp)
{
	CURL *c = NULL;
	struct curl_slist *h = NULL;
	struct eth_buf out;
	char errbuf[CURL_ERROR_SIZE] = "";
	uint8_t *p = NULL;
	size_t plen = 0;
	CURLcode rc;
	int r = ERR_NOMEM;

	*answerp = NULL;
	*lenp = 0;
	*statusp = 0;
	eth_buf_init(&out, LIMIT_JSON_BODY);
	if ((c = curl_easy_init()) == NULL)
		goto out;
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_SHARE, n->share);
	curl_easy_setopt(c, CURLOPT_URL, n->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)LIMIT_NODE_CONNECT_S);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)n->timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, statusp);
	if (rc != CURLE_OK) {
		log_msg("node %s: %s", n->url,
		    errbuf[0] ? errbuf : curl_easy_strerror(rc));
		r = rc == CURLE_OPERATION_TIMEDOUT ? ERR_TIMEOUT :
		    rc == CURLE_WRITE_ERROR ? ERR_TOO_LONG : ERR_IO;
		goto out;
	}
	if ((r = eth_buf_put_u8(&out, 0)) != 0 || (r = eth_buf_steal(&out, &p, &plen)) != 0)
		goto out;
	*answerp = (char *)p;
	*lenp = plen - 1;
	r = 0;
 out:
	if (r != 0)
		*statusp = 0;
	curl_slist_free_all(h);
	if (c != NULL)
		curl_easy_cleanup(c);
	eth_buf_free(&out);
	return r;
}

static void
set_error(struct relay_node_error *errp, int code, const char *msg, const json_t *data)
{
	errp->code = code;
	snprintf(errp->message, sizeof(errp->message), "%s", msg);
	errp->data = data != NULL ? json_deep_copy(data) : NULL;
}

int
relay_node_call(struct relay_node *n, const char *method, json_t *params,
    json_t **resultp, struct relay_node_error *errp)
{
	json_t *req = NULL;
	char *body = NULL, *answer = NULL, msg[RELAY_NODE_MSG_MAX];
	size_t alen = 0;
	unsigned long id;
	long status = 0;
	int r = ERR_NOMEM;

	*resultp = NULL;
	memset(errp, 0, sizeof(*errp));
	if (params == NULL)
		params = json_array();
	pthread_mutex_lock(&n->id_lock);
	id = ++n->next_id;
	pthread_mutex_unlock(&n->id_lock);
	if ((req = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", (json_int_t)id,
	    "method", method, "params", params)) == NULL ||
	    (body = json_dumps(req, JSON_COMPACT)) == NULL) {
		set_error(errp, 0, "out of memory", NULL);
		goto out;
	}
	if ((r = relay_node_post(n, body, strlen(body), &answer, &alen, &status)) != 0) {
		snprintf(msg, sizeof(msg), "the node at %s %s", n->url,
		    r == ERR_TIMEOUT ? "did not answer in time" : "cannot be reached");
		set_error(errp, 0, msg, NULL);
		goto out;
	}
	if ((r = relay_rpc_answer_split(answer, alen, resultp, errp)) == ERR_RELAY_NODE_ANSWER) {
		snprintf(msg, sizeof(msg), "the node at %s answered %s that is not JSON-RPC",
		    n->url, status >= 400 ? "an HTTP error" : "something");
		set_error(errp, 0, msg, NULL);
	}
	if (r != 0)
		goto out;
	r = 0;
 out:
	json_decref(req);
	free(body);
	free(answer);
	return r;
}

int
relay_rpc_answer_split(const char *answer, size_t len, json_t **resultp,
    struct relay_node_error *errp)
{
	json_t *ans = NULL, *e;
	int r = ERR_RELAY_NODE_ANSWER;

	*resultp = NULL;
	if (answer == NULL || rpc_jsonrpc_precheck(answer, len) != 0 ||
	    (ans = json_loadb(answer, len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(ans))
		goto out;
	if ((e = json_object_get(ans, "error")) != NULL) {
		const json_t *m = json_object_get(e, "message");

		set_error(errp, (int)json_integer_value(json_object_get(e, "code")),
		    json_is_string(m) ? json_string_value(m) : "error without a message",
		    json_object_get(e, "data"));
		if (errp->code == 0)
			errp->code = RPC_ERR_SERVER;
		r = ERR_RELAY_NODE_REFUSED;
		goto out;
	}
	if (json_object_get(ans, "result") == NULL)
		goto out;
	*resultp = json_incref(json_object_get(ans, "result"));
	r = 0;
 out:
	json_decref(ans);
	return r;
}

void
relay_node_error_clear(struct relay_node_error *errp)
{
	json_decref(errp->data);
	errp->data = NULL;
}
