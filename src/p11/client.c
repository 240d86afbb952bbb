/*
 * client.c - the daemon's side of the token protocol (client.h).
 *
 * One struct helper per running p11signer-token.  Once it has answered
 * HELLO, one thread at a time reads its socket: a caller waiting for its
 * answer, or the helper's reader thread when no call is in flight
 * (client_reader.c).  The reader thread alone reaps the process:
 * whatever ends a helper (end of file, a malformed frame, a reply to no
 * request, p11_client_stop(), a sender that gave up) comes down to a
 * shutdown() of the socket, which wakes whoever reads, and then the reader
 * thread, which ends the process, reaps it and fails every request of that
 * helper with one reason.  A
 * helper's memory and descriptor go when its reader has been joined and no
 * sender holds it, so a descriptor number is never reused under a sender.
 *
 * Each request waits on a condition variable of its own, so that a reply
 * wakes its caller alone (one shared one woke every caller in flight for each
 * reply, to find its own not done).  A request that times out stays
 * in the list, marked abandoned, until its late reply comes (dropped) or its
 * helper ends: so its id is not reused while the helper may still answer it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "p11/client.h"
#include "p11/client_int.h"

/* ---- public ---- */

static char *
dup_str(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

static void
client_free(struct p11_client *c)
{
	size_t i;

	if (c == NULL)
		return;
	if (c->argv != NULL) {
		for (i = 0; c->argv[i] != NULL; i++)
			free(c->argv[i]);
		free(c->argv);
	}
	if (c->token_uris != NULL) {
		for (i = 0; i < c->ntokens; i++) {
			/* May carry a pin-value. */
			if (c->token_uris[i] != NULL)
				explicit_bzero(c->token_uris[i], strlen(c->token_uris[i]));
			free(c->token_uris[i]);
		}
		free(c->token_uris);
	}
	for (i = 0; i < c->nrejected; i++)
		free(c->rejected[i]);
	free(c->helper_path);
	free(c->module);
	pthread_cond_destroy(&c->send_cv);
	pthread_cond_destroy(&c->start_cv);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/*
 * A token URI as the protocol carries it: each byte outside its character
 * set (docs/token-protocol.md §3), a blank say, %-encoded, which p11-kit
 * reads as the same URI.  NULL: no memory.
 */
static char *
uri_for_wire(const char *s)
{
	static const char other[] = "-._~!$&'()*+,;=:@/?";
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), i, o = 0;
	char *out;

	if (n > (SIZE_MAX - 1) / 3 || (out = malloc(3 * n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr(other, ch) != NULL ||
		    (ch == '%' && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2]))) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return out;
}

/* A '%' that starts no %XX escape: no RFC 7512 URI, whatever else it holds. */
static int
has_stray_percent(const char *s)
{
	for (; (s = strchr(s, '%')) != NULL; s++)
		if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]))
			return 1;
	return 0;
}

/*
 * The token URIs for CONFIGURE.  0, ERR_NOMEM, ERR_TOO_LONG (over the
 * protocol's cap) or ERR_P11_URI_INVALID (a stray '%', which uri_for_wire()
 * would otherwise turn into another, valid URI).
 */
static int
copy_tokens(struct p11_client *c, const struct p11_client_config *cfg)
{
	size_t i;

	if (cfg->ntokens == 0)
		return 0;
	for (i = 0; i < cfg->ntokens; i++)
		if (has_stray_percent(cfg->token_uris[i]))
			return ERR_P11_URI_INVALID;
	if ((c->token_uris = calloc(cfg->ntokens, sizeof(*c->token_uris))) == NULL)
		return ERR_NOMEM;
	c->ntokens = cfg->ntokens;
	for (i = 0; i < cfg->ntokens; i++) {
		if ((c->token_uris[i] = uri_for_wire(cfg->token_uris[i])) == NULL)
			return ERR_NOMEM;
		if (strlen(c->token_uris[i]) > LIMIT_P11_URI)
			return ERR_TOO_LONG;
	}
	return 0;
}

/* argv for the helper: every string a copy, and no token URI.  0 or ERR_NOMEM. */
static int
build_argv(struct p11_client *c, const struct p11_client_config *cfg)
{
	size_t n = 0, i, max = 6 + 2 * cfg->nallowed;

	if ((c->argv = calloc(max, sizeof(*c->argv))) == NULL)
		return ERR_NOMEM;
#define ARG(s) do { if ((c->argv[n++] = strdup(s)) == NULL) return ERR_NOMEM; } while (0)
	ARG(cfg->helper_path);
	ARG("--module");
	ARG(cfg->module);
	for (i = 0; i < cfg->nallowed; i++) {
		ARG("--allow");
		ARG(cfg->allowed_dirs[i]);
	}
	if (cfg->sessions > 0) {
		snprintf(c->sessions_arg, sizeof(c->sessions_arg), "%u", cfg->sessions);
		ARG("--sessions");
		ARG(c->sessions_arg);
	}
#undef ARG
	return 0;
}

static int
config_ok(const struct p11_client_config *cfg)
{
	size_t i;

	if (cfg == NULL || cfg->helper_path == NULL || cfg->helper_path[0] == '\0' ||
	    cfg->module == NULL || cfg->module[0] == '\0' ||
	    (cfg->nallowed > 0 && cfg->allowed_dirs == NULL) ||
	    (cfg->ntokens > 0 && cfg->token_uris == NULL) ||
	    cfg->nallowed > LIMIT_P11_ALLOWED_DIRS || cfg->ntokens > LIMIT_P11_URIS)
		return 0;
	for (i = 0; i < cfg->nallowed; i++)
		if (cfg->allowed_dirs[i] == NULL)
			return 0;
	for (i = 0; i < cfg->ntokens; i++)
		if (cfg->token_uris[i] == NULL)
			return 0;
	return 1;
}

int
p11_client_start(const struct p11_client_config *cfg, struct p11_client **outp,
    char why[P11_CLIENT_WHY_MAX])
{
	struct p11_client *c = NULL;
	struct helper *h = NULL;
	struct timespec deadline;
	char whybuf[P11_CLIENT_WHY_MAX];
	int r;

	if (why == NULL)
		why = whybuf;
	why[0] = '\0';
	if (outp == NULL || !config_ok(cfg))
		return err_why(why, ERR_INVALID_ARGUMENT, "invalid token helper configuration "
		    "(helper path, module, lists)");
	*outp = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto nomem;
	if (pthread_mutex_init(&c->lock, NULL) != 0 ||
	    clock_cond_init(&c->start_cv) != 0 ||
	    clock_cond_init(&c->send_cv) != 0) {
		/* Never in practice on Linux; the objects hold no resources. */
		free(c);
		goto nomem;
	}
	if ((c->helper_path = dup_str(cfg->helper_path)) == NULL ||
	    (c->module = dup_str(cfg->module)) == NULL || build_argv(c, cfg) != 0) {
		client_free(c);
		goto nomem;
	}
	if ((r = copy_tokens(c, cfg)) != 0) {
		client_free(c);
		if (r == ERR_P11_URI_INVALID)
			return err_why(why, r, "%s", err_str(r));
		if (r != ERR_TOO_LONG)
			goto nomem;
		return err_why(why, r, "a --token URI is longer than %d bytes (once %%-encoded)",
		    LIMIT_P11_URI);
	}
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	c->on_event = cfg->on_event;
	c->event_ctx = cfg->event_ctx;
	c->next_id = 1;

	clock_deadline_ms(&deadline, c->timeout_ms);
	clock_deadline_ms(&c->last_start, 0);
	if ((r = client_helper_start(c, &deadline, &h, why)) != 0) {
		client_free(c);
		return r;
	}
	pthread_mutex_lock(&c->lock);
	h->gen = ++c->next_gen;
	if ((r = client_reader_start(h, why)) != 0) {
		client_helper_abort(h);
		pthread_mutex_unlock(&c->lock);
		client_free(c);
		return r;
	}
	c->h = h;
	pthread_mutex_unlock(&c->lock);
	*outp = c;
	return 0;

 nomem:
	return err_why(why, ERR_NOMEM, "out of memory");
}

void
p11_client_stop(struct p11_client *c)
{
	struct helper *h;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	while (c->starting)
		pthread_cond_wait(&c->start_cv, &c->lock);
	h = c->h;
	c->h = NULL;
	if (h != NULL)
		client_helper_end(h, NULL);
	pthread_mutex_unlock(&c->lock);
	if (h != NULL)
		pthread_join(h->reader, NULL);
	pthread_mutex_lock(&c->lock);
	/* Only abandoned requests can be left (no call may run during a stop). */
	client_pending_fail_gen(c, 0, ERR_PROTO_CLOSED, "the token helper was stopped");
	client_helper_unref(h);
	pthread_mutex_unlock(&c->lock);
	client_free(c);
}

int
p11_client_call(struct p11_client *c, const struct proto_msg *req, struct proto_msg **replyp,
    char why[P11_CLIENT_WHY_MAX])
{
	struct proto_msg msg, *reply = NULL;
	struct pending *p = NULL;
	struct helper *h = NULL;
	struct timespec deadline;
	char whybuf[P11_CLIENT_WHY_MAX];
	int r, sent = 0;

	if (why == NULL)
		why = whybuf;
	why[0] = '\0';
	if (replyp != NULL)
		*replyp = NULL;
	if (c == NULL || req == NULL || replyp == NULL)
		return err_why(why, ERR_INVALID_ARGUMENT, "p11_client_call: missing argument");
	if (proto_type_sender(req->type) != PROTO_FROM_DAEMON || req->type == PROTO_HELLO)
		return err_why(why, ERR_INVALID_ARGUMENT, "%s is not a request that can be sent to "
		    "the token helper", proto_type_name(req->type));
	clock_deadline_ms(&deadline, c->timeout_ms);

	pthread_mutex_lock(&c->lock);
	if (c->h != NULL && pthread_equal(c->h->reader, pthread_self())) {
		/* It would wait for a reply that only this thread can read. */
		r = err_why(why, ERR_INVALID_ARGUMENT, "the token helper cannot be called from its "
		    "on_event callback");
		goto out_locked;
	}
	if ((r = client_ensure_helper(c, &deadline, why)) != 0)
		goto out_locked;
	if ((p = client_pending_new()) == NULL) {
		r = err_why(why, ERR_NOMEM, "out of memory");
		goto out_locked;
	}
	h = c->h;
	h->refs++;
	p->gen = h->gen;
	p->id = client_new_id(c);
	p->req_type = req->type;
	p->next = c->pending;
	c->pending = p;

	/* One sender at a time on the socket. */
	while (h->sending && !p->done)
		if (pthread_cond_timedwait(&c->send_cv, &c->lock, &deadline) == ETIMEDOUT)
			break;
	if (p->done) {
		/* Its helper ended meanwhile: the request has its answer. */
		r = 0;
		sent = 1;
	} else if (!h->sending) {
		h->sending = 1;
		pthread_mutex_unlock(&c->lock);
		/* A copy of the struct, not of what it points to: a PIN stays the caller's. */
		msg = *req;
		msg.id = p->id;
		msg.priv = NULL;
		r = proto_send(h->fd, &msg, &deadline);	/* wipes its frame buffer */
		explicit_bzero(&msg, sizeof(msg));
		pthread_mutex_lock(&c->lock);
		h->sending = 0;
		pthread_cond_broadcast(&c->send_cv);
		sent = 1;
	} else
		r = ERR_TIMEOUT;

	if (r != 0 && (!sent || (r != ERR_PROTO_CLOSED && r != ERR_IO && r != ERR_TIMEOUT))) {
		/* Nothing of it was written: refused by the encoder, or never got the socket. */
		if (!p->done)
			client_pending_unlink(c, p);
		if (sent)
			(void)err_why(why, r, "the %s request cannot be sent: %s",
			    proto_type_name(req->type), err_str(r));
		else
			(void)err_why(why, r, "the token helper for " MODULE_SHOWN " did not take "
			    "the %s request within %d ms", c->module, proto_type_name(req->type),
			    c->timeout_ms);
		client_pending_free(p);
		p = NULL;
		goto out_locked;
	}
	if (r != 0)	/* part of a frame may be out: the stream is out of step */
		client_helper_end(h, r == ERR_TIMEOUT ? "did not take a request in time" :
		    "could not be written to");
	/* Its answer: read by this thread when nobody else reads (client_reader.c). */
	while (!p->done && !clock_passed(&deadline)) {
		if (!h->reading && h->end == READ_MORE && !h->reader_wanted)
			client_read_as_caller(h, p, &deadline);
		else
			(void)pthread_cond_timedwait(&p->done_cv, &c->lock, &deadline);
	}
	/* More calls are likely: the reader thread leaves the reading to them a while. */
	clock_deadline_ms(&h->linger_until, LINGER_MS);
	if (!p->done) {
		/* Its late answer, if any, is dropped by the reader. */
		p->abandoned = 1;
		p = NULL;
		if (!h->dead && ++h->abandoned >= MAX_ABANDONED)
			client_helper_end(h, "left too many requests unanswered past their timeout");
		r = err_why(why, ERR_TIMEOUT, "the token helper for " MODULE_SHOWN " did not "
		    "answer %s within %d ms", c->module, proto_type_name(req->type), c->timeout_ms);
		goto out_locked;
	}
	r = p->result;
	reply = p->reply;
	p->reply = NULL;
	if (r != 0)
		(void)err_why(why, r, "%s", p->why);
	client_pending_free(p);
	p = NULL;

 out_locked:
	if (h != NULL)
		client_helper_unref(h);
	pthread_mutex_unlock(&c->lock);
	if (r == 0 && reply->type == PROTO_ERROR) {
		r = reply->error.code < 0 ? reply->error.code : ERR_INTERNAL;
		(void)err_why(why, r, "%.250s",
		    reply->error.message[0] != '\0' ? reply->error.message : err_str(r));
		proto_msg_free(reply);
		reply = NULL;
	}
	if (r == 0)
		*replyp = reply;
	return r;
}

int
p11_client_list(struct p11_client *c, struct proto_msg **key_listp, char why[P11_CLIENT_WHY_MAX])
{
	struct proto_msg req;

	if (key_listp == NULL)
		return err_why(why, ERR_INVALID_ARGUMENT, "p11_client_list: missing argument");
	memset(&req, 0, sizeof(req));
	req.type = PROTO_LIST_KEYS;
	return p11_client_call(c, &req, key_listp, why);
}

int
p11_client_sign(struct p11_client *c, const struct proto_key_ref *key, const uint8_t digest[32],
    uint8_t sig64[64], char why[P11_CLIENT_WHY_MAX])
{
	struct proto_msg req, *reply = NULL;
	int r;

	if (key == NULL || digest == NULL || sig64 == NULL)
		return err_why(why, ERR_INVALID_ARGUMENT, "p11_client_sign: missing argument");
	memset(&req, 0, sizeof(req));
	req.type = PROTO_SIGN;
	req.sign.key = *key;
	memcpy(req.sign.digest, digest, 32);
	if ((r = p11_client_call(c, &req, &reply, why)) != 0)
		return r;
	memcpy(sig64, reply->signature.sig, 64);
	proto_msg_free(reply);
	return 0;
}

int
p11_client_login(struct p11_client *c, const char *token_uri, uint32_t flags,
    const uint8_t *pin, size_t pin_len, struct proto_login_result *resultp,
    char why[P11_CLIENT_WHY_MAX])
{
	struct proto_msg req, *reply = NULL;
	int r;

	if (resultp != NULL)
		memset(resultp, 0, sizeof(*resultp));
	if (resultp == NULL)
		return err_why(why, ERR_INVALID_ARGUMENT, "p11_client_login: missing argument");
	memset(&req, 0, sizeof(req));
	req.type = PROTO_LOGIN;
	req.login.token_uri = token_uri;
	req.login.flags = flags;
	req.login.pin = pin;		/* borrowed: encoded into proto_send()'s wiped buffer only */
	req.login.pin_len = pin_len;
	r = p11_client_call(c, &req, &reply, why);
	explicit_bzero(&req, sizeof(req));
	if (r != 0)
		return r;
	*resultp = reply->login_result;
	proto_msg_free(reply);
	return 0;
}

int
p11_client_generate(struct p11_client *c, const char *token_uri, const char *label,
    const uint8_t *id, size_t id_len, struct proto_msg **generatedp,
    char why[P11_CLIENT_WHY_MAX])
{
	struct proto_msg req;

	if (generatedp == NULL)
		return err_why(why, ERR_INVALID_ARGUMENT, "p11_client_generate: missing argument");
	memset(&req, 0, sizeof(req));
	req.type = PROTO_GENERATE;
	req.generate.token_uri = token_uri;
	req.generate.label = label;
	req.generate.id = id;
	req.generate.id_len = id_len;
	return p11_client_call(c, &req, generatedp, why);
}

long
p11_client_helper_pid(struct p11_client *c)
{
	long pid = 0;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (c->h != NULL && !c->h->dead)
		pid = (long)c->h->pid;
	pthread_mutex_unlock(&c->lock);
	return pid;
}
