/*
 * helper.c - the token helper's serving loop (helper.h).
 *
 * Locks, outermost first: h->wlock (writes to the socket), h->lock (jobs,
 * queue, stop); h->keys_lock (the handle table), h->mon_lock (the monitor's
 * wake-up) and h->memo_lock (what was logged) are taken alone.  No PKCS#11
 * call (token.h) is made with any of them held.
 *
 * A request is a job in one of max_inflight slots: the reader fills a free
 * slot and queues it, a worker runs it and answers it.  The slot is freed
 * under h->wlock just before the answer is written, so the daemon, which may
 * reuse an id once it has the answer, never finds the id still taken.
 *
 * The idle worker that went idle last takes the next job (a stack, a
 * condition variable each): one condition variable for all woke them in
 * turn, so that each request ran on a thread whose caches (and the module's
 * and the allocator's per-thread state) had gone cold; SoftHSM2 then spent
 * 10-20 % more CPU per signature than on one thread.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>

#include <libusb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "eth/addr.h"
#include "core/err.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "core/limits.h"
#include "p11/helper.h"
#include "p11/proto.h"
#include "p11/token.h"

#define TEXT_SZ		(LIMIT_PROTO_TEXT + 1)
#define SLOT_URI_SZ	48		/* "pkcs11:slot-id=" and a 64-bit number */
#define HANDLES_MAX	65536		/* keys remembered while the helper runs */
#define MON_TICK_MS	250		/* the monitor looks at its flags this often */
#define MEMO_SLOTS	16		/* tokens whose last failure is remembered */
#define MEMO_MS		60000		/* the same failure is logged again after this */

enum job_state { JOB_FREE, JOB_QUEUED, JOB_RUNNING };

struct job {
	enum job_state state;
	uint32_t id;
	struct proto_msg *req;		/* owned; NULL once its PIN is out of it */
};

/* A key that has a handle: handle h is keys[h - 1]. */
struct hkey {
	unsigned token;
	uint8_t addr[20];
	char *uri;			/* its URI as last listed, or NULL */
};

/* What the monitor compares from one scan to the next, per token. */
struct snap_tok {
	unsigned token;
	int present;
	int logged_in;
	uint64_t slot;
	char uri[LIMIT_PROTO_URI + 1];
	char label[TEXT_SZ];
	size_t nkeys;
	uint8_t keys_digest[32];	/* XOR of keccak256(address || uri) over its keys */
};

struct snap {
	struct snap_tok *t;
	size_t n;
};

/* A failure logged: the same again on that token is not, for a while. */
struct memo {
	unsigned token;
	int code;
	long at_ms;
	unsigned long suppressed;
};

struct helper {
	int fd;
	struct p11_module *m;
	char name[TEXT_SZ];
	unsigned max;
	int poll_ms, event_poll_ms, send_ms, stop_ms, quiet;

	pthread_mutex_t wlock;		/* one frame at a time on fd */
	int dead;			/* a write failed: fd is shut down */
	int write_err;

	pthread_mutex_t lock;
	struct job *jobs;		/* max slots */
	unsigned *queue;		/* ring of slot numbers */
	unsigned qhead, qlen;
	int stop;
	pthread_t *workers;
	unsigned nworkers;
	pthread_cond_t *wake_cv;	/* max, one per worker: a job for it, or stop */
	int *is_idle;			/* max: the worker is on the idle stack */
	unsigned *idle;			/* the idle stack: the last to go idle on top */
	unsigned nidle;
	unsigned nindex;		/* worker numbers handed out */

	pthread_mutex_t mon_lock;
	pthread_cond_t mon_cv;		/* CLOCK_MONOTONIC: kick or stop */
	int kick, mon_stop;
	pthread_t mon;
	int mon_started;
	libusb_context *usb;		/* NULL: no USB hotplug notifications */
	libusb_hotplug_callback_handle usb_cb;
	pthread_t usb_thread;
	int usb_started;
	struct snap snap;		/* as of HELLO; the monitor's from then on */

	pthread_mutex_t keys_lock;
	struct hkey *keys;
	size_t nkeys, capkeys;

	pthread_mutex_t memo_lock;
	struct memo memo[MEMO_SLOTS];	/* the failures logged last, to log each once */
};

/* ---- small things ---- */

static void hlog(const struct helper *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One line on stderr, in one write. */
static void
hlog(const struct helper *h, const char *fmt, ...)
{
	char line[640];
	va_list ap;
	size_t n = 0, off;
	ssize_t k;
	int w;

	if (h != NULL && h->quiet)
		return;
	w = snprintf(line, sizeof(line) - 1, "p11signer-token[%ld]: %s: ", (long)getpid(),
	    h != NULL ? h->name : "module");
	if (w > 0)
		n = (size_t)w < sizeof(line) - 1 ? (size_t)w : sizeof(line) - 2;
	va_start(ap, fmt);
	w = vsnprintf(line + n, sizeof(line) - 1 - n, fmt, ap);
	va_end(ap);
	if (w > 0)
		n += (size_t)w < sizeof(line) - 1 - n ? (size_t)w : sizeof(line) - 2 - n;
	line[n++] = '\n';
	for (off = 0; off < n; off += (size_t)k) {
		k = write(STDERR_FILENO, line + off, n - off);
		if (k < 0 && errno == EINTR)
			k = 0;
		else if (k <= 0)
			break;
	}
}

static void
clean(char out[TEXT_SZ], const char *s)
{
	proto_text_clean((const uint8_t *)s, strlen(s), out, TEXT_SZ);
}

static int
is_io_err(int r)
{
	return r == ERR_PROTO_CLOSED || r == ERR_IO || r == ERR_TIMEOUT;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
ts_add_ms(struct timespec *ts, long ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int
p11_helper_uri_ok(const char *s)
{
	static const char other[] = "-._~!$&'()*+,;=:@/?";
	size_t i, n;
	unsigned char c;

	if (s == NULL || strncmp(s, "pkcs11:", 7) != 0)
		return 0;
	if ((n = strlen(s)) > LIMIT_PROTO_URI)
		return 0;
	for (i = 7; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '%') {
			if (n - i < 3 || eth_hex_digit(s[i + 1]) < 0 || eth_hex_digit(s[i + 2]) < 0)
				return 0;
			i += 2;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(other, c) != NULL))
			return 0;
	}
	return 1;
}

uint32_t
p11_helper_token_flags(const struct p11_token_info *t)
{
	static const struct { unsigned long ck; uint32_t proto; } map[] = {
		{ CKF_LOGIN_REQUIRED, PROTO_TOKEN_LOGIN_REQUIRED },
		{ CKF_PROTECTED_AUTHENTICATION_PATH, PROTO_TOKEN_PROTECTED_AUTH },
		{ CKF_USER_PIN_COUNT_LOW, PROTO_TOKEN_PIN_COUNT_LOW },
		{ CKF_USER_PIN_FINAL_TRY, PROTO_TOKEN_PIN_FINAL_TRY },
		{ CKF_USER_PIN_LOCKED, PROTO_TOKEN_PIN_LOCKED },
		{ CKF_USER_PIN_TO_BE_CHANGED, PROTO_TOKEN_PIN_TO_BE_CHANGED },
		{ CKF_WRITE_PROTECTED, PROTO_TOKEN_WRITE_PROTECTED },
		{ CKF_TOKEN_INITIALIZED, PROTO_TOKEN_INITIALIZED },
		{ CKF_USER_PIN_INITIALIZED, PROTO_TOKEN_USER_PIN_INITIALIZED },
	};
	uint32_t f = 0;
	size_t i;

	if (t->present)
		f |= PROTO_TOKEN_PRESENT;
	if (t->slot_flags & CKF_REMOVABLE_DEVICE)
		f |= PROTO_TOKEN_REMOVABLE;
	/* A removed token has lost its login. */
	if (t->present && (t->pin_state & P11_PIN_LOGGED_IN))
		f |= PROTO_TOKEN_LOGGED_IN;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (t->token_flags & map[i].ck)
			f |= map[i].proto;
	if (t->pin_state & P11_PIN_AUTO)
		f |= PROTO_TOKEN_PIN_AUTO;
	if (t->pin_state & P11_PIN_AUTO_REJECTED)
		f |= PROTO_TOKEN_PIN_AUTO_REJECTED;
	return f;
}

/* The token's URI as the protocol takes it, else its slot's. */
static const char *
token_uri(const struct p11_token_info *t, char slot_uri[SLOT_URI_SZ])
{
	if (p11_helper_uri_ok(t->uri))
		return t->uri;
	snprintf(slot_uri, SLOT_URI_SZ, "pkcs11:slot-id=%lu", t->slot);
	return slot_uri;
}

/* Token number `token` as token.h sees it now.  0 or ERR_P11_TOKEN_UNKNOWN, ERR_NOMEM. */
static int
token_get(struct helper *h, unsigned token, struct p11_token_info *out)
{
	struct p11_token_info *toks = NULL;
	size_t n = 0, i;
	int r;

	if ((r = p11_token_list_tokens(h->m, &toks, &n)) != 0)
		return r;
	r = ERR_P11_TOKEN_UNKNOWN;
	for (i = 0; i < n; i++) {
		if (toks[i].token == token) {
			*out = toks[i];
			r = 0;
			break;
		}
	}
	free(toks);
	return r;
}

/* The token's label, cleaned, for log lines and messages ("?" when unknown). */
static void
token_label(struct helper *h, unsigned token, char out[TEXT_SZ])
{
	struct p11_token_info t;

	if (token_get(h, token, &t) == 0)
		clean(out, t.label);
	else
		snprintf(out, TEXT_SZ, "?");
}

/*
 * Should a failure with this code on this token be logged?  Not when the
 * last one logged for the token was the same, less than MEMO_MS ago (a
 * thousand signs that fail the same way make one line).  *suppressedp: how
 * many were not logged since.
 */
static int
memo_log(struct helper *h, unsigned token, int code, unsigned long *suppressedp)
{
	struct memo *mm, *use = NULL;
	long now = now_ms();
	size_t i;
	int log = 1;

	*suppressedp = 0;
	pthread_mutex_lock(&h->memo_lock);
	for (i = 0; i < MEMO_SLOTS && use == NULL; i++)
		if (h->memo[i].at_ms != 0 && h->memo[i].token == token)
			use = &h->memo[i];
	for (i = 0; i < MEMO_SLOTS && use == NULL; i++)
		if (h->memo[i].at_ms == 0)
			use = &h->memo[i];
	if (use == NULL)
		use = &h->memo[(size_t)now % MEMO_SLOTS];
	mm = use;
	if (mm->at_ms != 0 && mm->token == token && mm->code == code && now - mm->at_ms < MEMO_MS) {
		mm->suppressed++;
		log = 0;
	} else {
		*suppressedp = mm->token == token && mm->code == code ? mm->suppressed : 0;
		mm->token = token;
		mm->code = code;
		mm->at_ms = now != 0 ? now : 1;
		mm->suppressed = 0;
	}
	pthread_mutex_unlock(&h->memo_lock);
	return log;
}

/* ---- writing ---- */

/* Send m (h->wlock held).  A reply that cannot be encoded becomes an ERROR. */
static int
send_locked(struct helper *h, const struct proto_msg *m)
{
	struct timespec dl;
	struct proto_msg e;
	int r;

	if (h->dead)
		return h->write_err;
	proto_deadline(h->send_ms, &dl);
	r = proto_send(h->fd, m, &dl);
	if (r != 0 && !is_io_err(r)) {
		hlog(h, "cannot encode %s: %s", proto_type_name(m->type), err_name(r));
		if (m->type != PROTO_ERROR && m->type != PROTO_EVENT) {
			memset(&e, 0, sizeof(e));
			e.type = PROTO_ERROR;
			e.id = m->id;
			e.error.code = ERR_INTERNAL;
			e.error.message = "the token helper could not encode its answer";
			r = proto_send(h->fd, &e, &dl);
		}
	}
	if (is_io_err(r)) {
		h->dead = 1;
		h->write_err = r;
		shutdown(h->fd, SHUT_RDWR);	/* the reader sees end of file */
		if (r != ERR_PROTO_CLOSED)
			hlog(h, "cannot write to the daemon: %s", err_str(r));
	}
	return r;
}

static int
send_msg(struct helper *h, const struct proto_msg *m)
{
	int r;

	pthread_mutex_lock(&h->wlock);
	r = send_locked(h, m);
	pthread_mutex_unlock(&h->wlock);
	return r;
}

static void
error_msg(struct proto_msg *e, uint32_t id, int code, char text[TEXT_SZ], const char *fmt,
    va_list ap) __attribute__((format(printf, 5, 0)));

static void
error_msg(struct proto_msg *e, uint32_t id, int code, char text[TEXT_SZ], const char *fmt,
    va_list ap)
{
	char raw[512];

	vsnprintf(raw, sizeof(raw), fmt, ap);
	clean(text, raw);
	memset(e, 0, sizeof(*e));
	e->type = PROTO_ERROR;
	e->id = id;
	e->error.code = code < 0 ? code : ERR_INTERNAL;
	e->error.message = text;
}

static void send_error(struct helper *h, uint32_t id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
send_error(struct helper *h, uint32_t id, int code, const char *fmt, ...)
{
	char text[TEXT_SZ];
	struct proto_msg e;
	va_list ap;

	va_start(ap, fmt);
	error_msg(&e, id, code, text, fmt, ap);
	va_end(ap);
	send_msg(h, &e);
}

static void send_farewell(struct helper *h, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The last frame: ERROR with id 0 says why the session ends.  Nothing is
 * sent after it (answers still being worked on are dropped).
 */
static void
send_farewell(struct helper *h, int code, const char *fmt, ...)
{
	char text[TEXT_SZ];
	struct proto_msg e;
	va_list ap;

	va_start(ap, fmt);
	error_msg(&e, 0, code, text, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&h->wlock);
	if (send_locked(h, &e) == 0) {
		h->dead = 1;
		h->write_err = ERR_PROTO_CLOSED;
		shutdown(h->fd, SHUT_WR);
	}
	pthread_mutex_unlock(&h->wlock);
}

/*
 * Answer job j with m (whose fields point to nothing in j->req) and free the
 * slot.  The slot is free before the answer is out: see the top.
 */
static void
job_answer(struct helper *h, struct job *j, const struct proto_msg *m)
{
	pthread_mutex_lock(&h->wlock);
	pthread_mutex_lock(&h->lock);
	proto_msg_free(j->req);		/* wipes */
	j->req = NULL;
	j->state = JOB_FREE;
	pthread_mutex_unlock(&h->lock);
	send_locked(h, m);
	pthread_mutex_unlock(&h->wlock);
}

static void job_error(struct helper *h, struct job *j, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
job_error(struct helper *h, struct job *j, int code, const char *fmt, ...)
{
	char text[TEXT_SZ];
	struct proto_msg e;
	va_list ap;

	va_start(ap, fmt);
	error_msg(&e, j->id, code, text, fmt, ap);
	va_end(ap);
	job_answer(h, j, &e);
}

/* ---- key handles ---- */

/*
 * The handle of key (token, addr), given one when it is new; uri (may be
 * NULL) is remembered as its URI.  0 when the table is full or memory short.
 */
static uint32_t
handle_of(struct helper *h, unsigned token, const uint8_t addr[20], const char *uri)
{
	struct hkey *k, *grown;
	uint32_t handle = 0;
	size_t i, cap;
	char *copy;

	pthread_mutex_lock(&h->keys_lock);
	for (i = 0; i < h->nkeys; i++) {
		k = &h->keys[i];
		if (k->token == token && memcmp(k->addr, addr, 20) == 0) {
			if (uri != NULL && (k->uri == NULL || strcmp(k->uri, uri) != 0) &&
			    (copy = strdup(uri)) != NULL) {
				free(k->uri);
				k->uri = copy;
			}
			handle = (uint32_t)i + 1;
			goto out;
		}
	}
	if (h->nkeys >= HANDLES_MAX)
		goto out;
	if (h->nkeys == h->capkeys) {
		cap = h->capkeys == 0 ? 64 : 2 * h->capkeys;
		if ((grown = realloc(h->keys, cap * sizeof(*grown))) == NULL)
			goto out;
		h->keys = grown;
		h->capkeys = cap;
	}
	k = &h->keys[h->nkeys];
	k->token = token;
	memcpy(k->addr, addr, 20);
	k->uri = uri != NULL ? strdup(uri) : NULL;
	handle = (uint32_t)++h->nkeys;
 out:
	pthread_mutex_unlock(&h->keys_lock);
	return handle;
}

/* What a request's key reference names. */
struct keyref {
	uint32_t handle;		/* 0: none yet */
	int known_token;
	unsigned token;
	uint8_t addr[20];
};

/* By handle, by the exact URI of a listed key, or the first handle with this address. */
static int
handle_find(struct helper *h, uint32_t handle, const char *uri, const uint8_t *addr,
    struct keyref *kr)
{
	size_t i;
	int r = ERR_P11_KEY_NOT_FOUND;

	pthread_mutex_lock(&h->keys_lock);
	for (i = 0; i < h->nkeys; i++) {
		const struct hkey *k = &h->keys[i];

		if ((handle != 0 && i + 1 == handle) ||
		    (uri != NULL && k->uri != NULL && strcmp(k->uri, uri) == 0) ||
		    (addr != NULL && memcmp(k->addr, addr, 20) == 0)) {
			kr->handle = (uint32_t)i + 1;
			kr->known_token = 1;
			kr->token = k->token;
			memcpy(kr->addr, k->addr, 20);
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&h->keys_lock);
	return r;
}

/*
 * Which key a KEY_STATUS or SIGN names.  A URI is matched against the keys
 * of present tokens (token.h), else taken as the exact URI of a key listed
 * before (its token may be out).  0, ERR_P11_KEY_NOT_FOUND, or a URI's error.
 */
static int
key_resolve(struct helper *h, const struct proto_key_ref *ref, struct keyref *kr)
{
	unsigned token;
	int r;

	memset(kr, 0, sizeof(*kr));
	if (ref->handle != 0)
		return handle_find(h, ref->handle, NULL, NULL, kr);
	r = p11_token_find_uri(h->m, ref->uri, kr->addr);
	if (r == 0) {
		if (p11_token_key_state(h->m, kr->addr, &token) == 0) {
			kr->known_token = 1;
			kr->token = token;
			kr->handle = handle_of(h, token, kr->addr, NULL);
		}
		return 0;
	}
	if (r == ERR_P11_KEY_NOT_FOUND)
		return handle_find(h, 0, ref->uri, NULL, kr);
	return r;
}

/* ---- the monitor: slot events, rescans, PROTO_EVENT ---- */

static void
snap_free(struct snap *s)
{
	free(s->t);
	s->t = NULL;
	s->n = 0;
}

static int
snap_take(struct helper *h, struct snap *s)
{
	struct p11_token_info *toks = NULL;
	struct p11_key *keys = NULL;
	size_t ntoks = 0, nkeys = 0, i, k;
	char slot_uri[SLOT_URI_SZ];
	uint8_t d[32];
	int r;

	s->t = NULL;
	s->n = 0;
	if ((r = p11_token_list_tokens(h->m, &toks, &ntoks)) != 0 ||
	    (r = p11_token_list_keys(h->m, &keys, &nkeys)) != 0)
		goto out;
	if ((s->t = calloc(ntoks + 1, sizeof(*s->t))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < ntoks; i++) {
		struct snap_tok *st = &s->t[i];

		st->token = toks[i].token;
		st->present = toks[i].present;
		st->logged_in = toks[i].present && (toks[i].pin_state & P11_PIN_LOGGED_IN);
		st->slot = toks[i].slot;
		snprintf(st->uri, sizeof(st->uri), "%s", token_uri(&toks[i], slot_uri));
		clean(st->label, toks[i].label);
		for (k = 0; st->present && k < nkeys; k++) {
			struct eth_keccak kc;
			size_t b;

			if (keys[k].token != st->token)
				continue;
			eth_keccak_init(&kc);
			eth_keccak_update(&kc, keys[k].address, 20);
			eth_keccak_update(&kc, keys[k].uri, strlen(keys[k].uri));
			eth_keccak_final(&kc, d);
			for (b = 0; b < sizeof(d); b++)
				st->keys_digest[b] ^= d[b];
			st->nkeys++;
		}
	}
	s->n = ntoks;
	r = 0;
 out:
	free(toks);
	p11_token_keys_free(keys, nkeys);
	return r;
}

static void
send_event(struct helper *h, uint8_t kind, const struct snap_tok *t)
{
	static const char *const what[] = { "", "inserted", "removed", "keys changed" };
	struct proto_msg m;

	hlog(h, "token \"%s\" (slot %llu): %s", t->label, (unsigned long long)t->slot, what[kind]);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_EVENT;
	m.id = 0;
	m.event.kind = kind;
	m.event.slot_id = t->slot;
	m.event.token_uri = t->uri;
	send_msg(h, &m);
}

/* Events for what changed from a to b. */
static void
snap_diff(struct helper *h, const struct snap *a, const struct snap *b)
{
	const struct snap_tok *old, *now;
	size_t i, k;

	for (i = 0; i < b->n; i++) {
		now = &b->t[i];
		for (old = NULL, k = 0; k < a->n && old == NULL; k++)
			if (a->t[k].token == now->token)
				old = &a->t[k];
		if (old == NULL || !old->present) {
			if (now->present)
				send_event(h, PROTO_EVENT_TOKEN_INSERTED, now);
		} else if (!now->present) {
			send_event(h, PROTO_EVENT_TOKEN_REMOVED, old);
		} else if (old->nkeys != now->nkeys ||
		    memcmp(old->keys_digest, now->keys_digest, sizeof(now->keys_digest)) != 0 ||
		    (old->logged_in && !now->logged_in)) {
			/* A login lost (a reset, or out and in between two scans) hides keys too. */
			send_event(h, PROTO_EVENT_KEYS_CHANGED, now);
		}
	}
}

static int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

static void
mon_kick(struct helper *h)
{
	pthread_mutex_lock(&h->mon_lock);
	h->kick = 1;
	pthread_cond_signal(&h->mon_cv);
	pthread_mutex_unlock(&h->mon_lock);
}

static void *
mon_main(void *arg)
{
	struct helper *h = arg;
	struct timespec until;
	struct snap cur;
	long next;
	int events = 1, scan, r, last_err = 0;

	next = now_ms() + h->poll_ms;
	for (;;) {
		scan = 0;
		if (events) {
			r = p11_token_wait_event(h->m, MON_TICK_MS);
			if (r == 0)
				scan = 1;
			else if (r != ERR_TIMEOUT) {
				events = 0;
				if (r != ERR_P11_CLOSED)
					hlog(h, "%s: rescanning every %d ms", err_str(r),
					    h->poll_ms);
				next = now_ms() + h->poll_ms;
			}
		}
		pthread_mutex_lock(&h->mon_lock);
		if (!events && !h->kick && !h->mon_stop) {
			clock_gettime(CLOCK_MONOTONIC, &until);
			ts_add_ms(&until, MON_TICK_MS);
			pthread_cond_timedwait(&h->mon_cv, &h->mon_lock, &until);
		}
		if (h->mon_stop) {
			pthread_mutex_unlock(&h->mon_lock);
			break;
		}
		if (h->kick)
			scan = 1;
		h->kick = 0;
		pthread_mutex_unlock(&h->mon_lock);
		if (!scan && now_ms() < next)
			continue;

		if ((r = p11_token_rescan(h->m)) != 0 && r != last_err)
			hlog(h, "cannot rescan the slots: %s", err_str(r));
		last_err = r;
		if (snap_take(h, &cur) == 0) {
			snap_diff(h, &h->snap, &cur);
			snap_free(&h->snap);
			h->snap = cur;
		}
		next = now_ms() + (events ? h->event_poll_ms : h->poll_ms);
	}
	return NULL;
}


/*
 * USB hotplug (libusb): a device arriving or leaving asks the monitor for a
 * rescan at once.  The middle tier between C_WaitForSlotEvent (a module that
 * has it tells us itself) and polling (which stays, at its interval, for
 * tokens that are not USB devices).
 */
static int LIBUSB_CALL
usb_changed(libusb_context *ctx, libusb_device *dev, libusb_hotplug_event ev, void *arg)
{
	(void)ctx;
	(void)dev;
	(void)ev;
	mon_kick(arg);
	return 0;	/* stay registered */
}

static void *
usb_main(void *arg)
{
	struct helper *h = arg;
	struct timeval tv;
	int stop;

	for (;;) {
		pthread_mutex_lock(&h->mon_lock);
		stop = h->mon_stop;
		pthread_mutex_unlock(&h->mon_lock);
		if (stop)
			break;
		tv.tv_sec = 0;
		tv.tv_usec = MON_TICK_MS * 1000;
		libusb_handle_events_timeout_completed(h->usb, &tv, NULL);
	}
	return NULL;
}

/* Start USB hotplug notifications if this system has them; 1 when on. */
static int
usb_start(struct helper *h)
{
	if (libusb_init(&h->usb) != 0) {
		h->usb = NULL;
		return 0;
	}
	if (!libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG) ||
	    libusb_hotplug_register_callback(h->usb, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED |
	    LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, 0, LIBUSB_HOTPLUG_MATCH_ANY,
	    LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, usb_changed, h,
	    &h->usb_cb) != LIBUSB_SUCCESS) {
		libusb_exit(h->usb);
		h->usb = NULL;
		return 0;
	}
	if (thread_start(&h->usb_thread, usb_main, h) != 0) {
		libusb_hotplug_deregister_callback(h->usb, h->usb_cb);
		libusb_exit(h->usb);
		h->usb = NULL;
		return 0;
	}
	h->usb_started = 1;
	return 1;
}

/* ---- requests ---- */

/* Failures of an automatic login (a PIN from the helper's URIs): the daemon asks the user. */
static int
auto_login_failure(int r)
{
	return r == ERR_P11_PIN_AUTO_REJECTED || r == ERR_P11_PIN_COUNT_LOW ||
	    r == ERR_P11_PIN_FINAL_TRY || r == ERR_P11_PIN_INCORRECT ||
	    r == ERR_P11_PIN_INVALID || r == ERR_P11_PIN_SOURCE;
}

static void
do_list(struct helper *h, struct job *j)
{
	struct ttext {
		char label[TEXT_SZ], manufacturer[TEXT_SZ], model[TEXT_SZ], serial[TEXT_SZ];
		char slot_uri[SLOT_URI_SZ];
	} *tt = NULL;
	char (*kl)[TEXT_SZ] = NULL;
	char manufacturer[TEXT_SZ], description[TEXT_SZ];
	struct p11_module_info mi;
	struct p11_token_info *toks = NULL;
	struct p11_key *keys = NULL;
	struct proto_token *pt = NULL;
	struct proto_key *pk = NULL;
	struct proto_msg m;
	size_t ntoks = 0, nkeys = 0, nt = 0, nk = 0, i, k;
	uint32_t handle;
	int pass, r;

	p11_token_module_info(h->m, &mi);
	if ((r = p11_token_list_tokens(h->m, &toks, &ntoks)) != 0 ||
	    (r = p11_token_list_keys(h->m, &keys, &nkeys)) != 0)
		goto fail;
	pt = calloc(LIMIT_PROTO_TOKENS, sizeof(*pt));
	tt = calloc(LIMIT_PROTO_TOKENS, sizeof(*tt));
	pk = calloc(nkeys + 1, sizeof(*pk));
	kl = calloc(nkeys + 1, sizeof(*kl));
	if (pt == NULL || tt == NULL || pk == NULL || kl == NULL) {
		r = ERR_NOMEM;
		goto fail;
	}
	/* Present tokens first: over the caps, the ones left out are the absent ones. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < ntoks && nt < LIMIT_PROTO_TOKENS; i++) {
			const struct p11_token_info *t = &toks[i];
			struct proto_token *p = &pt[nt];
			struct ttext *x = &tt[nt];

			if ((t->present != 0) != (pass == 0))
				continue;
			clean(x->label, t->label);
			clean(x->manufacturer, t->manufacturer);
			clean(x->model, t->model);
			clean(x->serial, t->serial);
			p->uri = token_uri(t, x->slot_uri);
			p->label = x->label;
			p->manufacturer = x->manufacturer;
			p->model = x->model;
			p->serial = x->serial;
			p->slot_id = t->slot;
			p->flags = p11_helper_token_flags(t);
			p->keys = &pk[nk];
			p->nkeys = 0;
			for (k = 0; t->present && k < nkeys && nk < LIMIT_PROTO_KEYS; k++) {
				const struct p11_key *key = &keys[k];
				struct proto_key *q = &pk[nk];

				if (key->token != t->token)
					continue;
				if (!p11_helper_uri_ok(key->uri) || key->id_len > LIMIT_PROTO_KEY_ID)
					continue;	/* not reached: token.h keeps within them */
				if ((handle = handle_of(h, t->token, key->address, key->uri)) == 0)
					continue;
				q->handle = handle;
				q->uri = key->uri;
				clean(kl[nk], key->label);
				q->label = kl[nk];
				q->id = key->id;
				q->id_len = key->id_len;
				memcpy(q->pub, key->pubkey, sizeof(q->pub));
				memcpy(q->addr, key->address, sizeof(q->addr));
				nk++;
				p->nkeys++;
			}
			if (p->nkeys == 0)
				p->keys = NULL;
			nt++;
		}
	}
	clean(manufacturer, mi.manufacturer);
	clean(description, mi.description);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_KEY_LIST;
	m.id = j->id;
	m.key_list.manufacturer = manufacturer;
	m.key_list.description = description;
	m.key_list.version_major = mi.version_major;
	m.key_list.version_minor = mi.version_minor;
	m.key_list.tokens = nt > 0 ? pt : NULL;
	m.key_list.ntokens = nt;
	job_answer(h, j, &m);
	goto out;
 fail:
	hlog(h, "cannot list the keys: %s", err_str(r));
	job_error(h, j, r, "cannot list the keys: %s", err_str(r));
 out:
	free(pt);
	free(tt);
	free(pk);
	free(kl);
	free(toks);
	p11_token_keys_free(keys, nkeys);
}

static void
do_key_status(struct helper *h, struct job *j)
{
	struct proto_msg m;
	struct p11_token_info t;
	struct keyref kr;
	unsigned token;
	int r;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_KEY_STATE;
	m.id = j->id;
	m.key_state.state = PROTO_KEY_NOT_FOUND;
	r = key_resolve(h, &j->req->key_status.key, &kr);
	if (r != 0 && r != ERR_P11_KEY_NOT_FOUND) {
		job_error(h, j, r, "%s", err_str(r));
		return;
	}
	if (r == 0)
		r = p11_token_key_state(h->m, kr.addr, &token);
	if (r == 0) {
		if (kr.handle == 0 && (kr.handle = handle_of(h, token, kr.addr, NULL)) == 0) {
			job_error(h, j, ERR_TOO_MANY, "too many keys seen");
			return;
		}
		m.key_state.handle = kr.handle;
		m.key_state.state = PROTO_KEY_AVAILABLE;
		if (token_get(h, token, &t) == 0)
			m.key_state.token_flags = p11_helper_token_flags(&t);
		m.key_state.token_flags |= PROTO_TOKEN_PRESENT;
	} else if (r == ERR_P11_TOKEN_REMOVED &&
	    (kr.handle != 0 || handle_find(h, 0, NULL, kr.addr, &kr) == 0)) {
		m.key_state.handle = kr.handle;
		m.key_state.state = PROTO_KEY_TOKEN_ABSENT;
		if (kr.known_token && token_get(h, kr.token, &t) == 0)
			m.key_state.token_flags = p11_helper_token_flags(&t);
		m.key_state.token_flags &= ~(uint32_t)(PROTO_TOKEN_PRESENT | PROTO_TOKEN_LOGGED_IN);
	}
	job_answer(h, j, &m);
}

static void
do_sign(struct helper *h, struct job *j)
{
	char label[TEXT_SZ], a[ETH_ADDR_STR];
	uint8_t sig65[65];
	struct proto_msg m;
	struct keyref kr;
	unsigned long n;
	unsigned token;
	int r;

	if ((r = key_resolve(h, &j->req->sign.key, &kr)) != 0) {
		job_error(h, j, r, "%s", err_str(r));
		return;
	}
	r = p11_token_sign(h->m, kr.addr, j->req->sign.digest, sig65);
	if (r == 0) {
		memset(&m, 0, sizeof(m));
		m.type = PROTO_SIGNATURE;
		m.id = j->id;
		memcpy(m.signature.sig, sig65, 64);
		m.signature.recid = sig65[64];
		job_answer(h, j, &m);
		return;
	}
	eth_addr_to_checksum(kr.addr, a);
	if (p11_token_key_state(h->m, kr.addr, &token) != 0)
		token = kr.known_token ? kr.token : UINT_MAX;
	if (token != UINT_MAX)
		token_label(h, token, label);
	else
		snprintf(label, sizeof(label), "?");
	if (r == ERR_P11_TOKEN_REMOVED) {
		mon_kick(h);	/* the event goes out now, not at the next rescan */
		job_error(h, j, r, "token \"%s\" with key %s was removed", label, a);
	} else if (r == ERR_P11_NOT_LOGGED_IN) {
		job_error(h, j, r, "token \"%s\" needs a PIN", label);
	} else if (auto_login_failure(r)) {
		if (memo_log(h, token, r, &n))
			hlog(h, "token \"%s\": no automatic log-in: %s", label, err_str(r));
		job_error(h, j, ERR_P11_NOT_LOGGED_IN, "token \"%s\" needs a PIN (the configured one "
		    "was not used: %s)", label, err_str(r));
	} else {
		if (memo_log(h, token, r, &n))
			hlog(h, "token \"%s\": signing with %s failed: %s%s", label, a, err_str(r),
			    n > 0 ? " (again, after more like it not logged)" : "");
		job_error(h, j, r, "token \"%s\", key %s: %s", label, a, err_str(r));
	}
}

static void
do_generate(struct helper *h, struct job *j)
{
	const struct proto_generate *g = &j->req->generate;
	char label[TEXT_SZ], klabel[TEXT_SZ], a[ETH_ADDR_STR];
	struct p11_key *key = NULL;
	struct proto_msg m;
	unsigned token;
	int r;

	if ((r = p11_token_find_token(h->m, g->token_uri, &token)) != 0) {
		job_error(h, j, r, "%s", err_str(r));
		return;
	}
	token_label(h, token, label);
	r = p11_token_keygen(h->m, token, g->label, g->id_len > 0 ? g->id : NULL, g->id_len, &key);
	if (r != 0) {
		if (auto_login_failure(r)) {
			hlog(h, "token \"%s\": no automatic log-in: %s", label, err_str(r));
			job_error(h, j, ERR_P11_NOT_LOGGED_IN, "token \"%s\" needs a PIN (the "
			    "configured one was not used: %s)", label, err_str(r));
		} else {
			if (r != ERR_P11_NOT_LOGGED_IN)
				hlog(h, "token \"%s\": key generation failed: %s", label, err_str(r));
			job_error(h, j, r, "token \"%s\": %s", label, err_str(r));
		}
		return;
	}
	eth_addr_to_checksum(key->address, a);
	hlog(h, "token \"%s\": generated key %s", label, a);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_GENERATED;
	m.id = j->id;
	m.generated.handle = handle_of(h, key->token, key->address, key->uri);
	m.generated.uri = key->uri;
	clean(klabel, key->label);
	m.generated.label = klabel;
	m.generated.id = key->id;
	m.generated.id_len = key->id_len;
	memcpy(m.generated.pub, key->pubkey, sizeof(m.generated.pub));
	memcpy(m.generated.addr, key->address, sizeof(m.generated.addr));
	if (m.generated.handle == 0)
		job_error(h, j, ERR_TOO_MANY, "key %s generated, but too many keys seen", a);
	else if (!p11_helper_uri_ok(key->uri))
		job_error(h, j, ERR_TOO_LONG, "key %s generated, but its URI is too long", a);
	else
		job_answer(h, j, &m);
	p11_token_keys_free(key, 1);
}

static void
do_login(struct helper *h, struct job *j)
{
	static const char *const said[] = {
		"accepted", "already logged in", "the PIN is incorrect", "the PIN is locked",
		"the token has no PIN pad", "the token refuses the PIN's length or characters",
		"not tried: few tries are left", "cancelled", "no token in the slot",
	};
	const struct proto_login *l = &j->req->login;
	uint8_t pin[LIMIT_PROTO_PIN];
	size_t pin_len = 0;
	char label[TEXT_SZ];
	struct p11_token_info t;
	struct proto_msg m;
	unsigned token, lflags = 0;
	int r, pad, status;

	memset(pin, 0, sizeof(pin));
	pad = (l->flags & PROTO_LOGIN_PIN_PAD) != 0;
	if (l->flags & PROTO_LOGIN_LOW_TRIES_CONFIRMED)
		lflags |= P11_LOGIN_LOW_TRIES_CONFIRMED;
	r = p11_token_find_token(h->m, l->token_uri, &token);
	if (!pad && l->pin_len <= sizeof(pin)) {
		memcpy(pin, l->pin, l->pin_len);
		pin_len = l->pin_len;
	}
	/* The request's copy of the PIN goes now (proto_msg_free wipes it). */
	pthread_mutex_lock(&h->lock);
	proto_msg_free(j->req);
	j->req = NULL;
	l = NULL;
	pthread_mutex_unlock(&h->lock);
	if (r != 0) {
		explicit_bzero(pin, sizeof(pin));
		job_error(h, j, r, "%s", err_str(r));
		return;
	}
	token_label(h, token, label);
	if ((r = token_get(h, token, &t)) != 0) {
		explicit_bzero(pin, sizeof(pin));
		job_error(h, j, r, "%s", err_str(r));
		return;
	}
	if (!t.present)
		r = ERR_P11_TOKEN_REMOVED;
	else if (t.pin_state & P11_PIN_LOGGED_IN)
		r = 1;		/* already: the PIN is not used */
	else if (pad)
		r = p11_token_login_pad(h->m, token, lflags);
	else
		r = p11_token_login(h->m, token, lflags, pin, pin_len);	/* wipes pin */
	explicit_bzero(pin, sizeof(pin));
	switch (r) {
	case 0:				status = PROTO_LOGIN_OK; break;
	case 1:				status = PROTO_LOGIN_ALREADY; break;
	case ERR_P11_PIN_INCORRECT:	status = PROTO_LOGIN_PIN_INCORRECT; break;
	case ERR_P11_PIN_LOCKED:	status = PROTO_LOGIN_PIN_LOCKED; break;
	case ERR_P11_NO_PIN_PAD:	status = PROTO_LOGIN_PIN_NEEDED; break;
	case ERR_P11_PIN_INVALID:
	case ERR_TOO_LONG:		status = PROTO_LOGIN_PIN_INVALID; break;
	case ERR_P11_PIN_COUNT_LOW:
	case ERR_P11_PIN_FINAL_TRY:	status = PROTO_LOGIN_LOW_TRIES; break;
	case ERR_P11_CANCELED:		status = PROTO_LOGIN_CANCELLED; break;
	case ERR_P11_TOKEN_REMOVED:	status = PROTO_LOGIN_TOKEN_ABSENT; break;
	default:
		hlog(h, "token \"%s\": log-in failed: %s", label, err_str(r));
		job_error(h, j, r, "token \"%s\": %s", label, err_str(r));
		if (r == ERR_P11_MODULE)
			mon_kick(h);
		return;
	}
	hlog(h, "token \"%s\": log-in%s: %s", label, pad ? " on the PIN pad" : "", said[status]);
	if (status == PROTO_LOGIN_TOKEN_ABSENT)
		mon_kick(h);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_LOGIN_RESULT;
	m.id = j->id;
	m.login_result.status = (uint8_t)status;
	if (token_get(h, token, &t) == 0)
		m.login_result.token_flags = p11_helper_token_flags(&t);
	job_answer(h, j, &m);
}

static void
job_run(struct helper *h, struct job *j)
{
	switch (j->req->type) {
	case PROTO_LIST_KEYS:
		do_list(h, j);
		break;
	case PROTO_KEY_STATUS:
		do_key_status(h, j);
		break;
	case PROTO_SIGN:
		do_sign(h, j);
		break;
	case PROTO_GENERATE:
		do_generate(h, j);
		break;
	case PROTO_LOGIN:
		do_login(h, j);
		break;
	default:	/* not reached: the reader takes requests only, HELLO once */
		job_error(h, j, ERR_PROTO_UNEXPECTED, "unexpected %s",
		    proto_type_name(j->req->type));
		break;
	}
}

/* Take worker me off the idle stack, wherever it is (h->lock held). */
static void
idle_remove(struct helper *h, unsigned me)
{
	unsigned i;

	if (!h->is_idle[me])
		return;
	for (i = 0; i < h->nidle && h->idle[i] != me; i++)
		;
	if (i < h->nidle) {
		memmove(&h->idle[i], &h->idle[i + 1], (h->nidle - i - 1) * sizeof(h->idle[0]));
		h->nidle--;
	}
	h->is_idle[me] = 0;
}

static void *
worker_main(void *arg)
{
	struct helper *h = arg;
	struct job *j;
	unsigned me;

	pthread_mutex_lock(&h->lock);
	me = h->nindex++;	/* below h->max: one per thread started */
	for (;;) {
		while (!h->stop && h->qlen == 0) {
			if (!h->is_idle[me]) {
				h->is_idle[me] = 1;
				h->idle[h->nidle++] = me;
			}
			pthread_cond_wait(&h->wake_cv[me], &h->lock);
		}
		if (h->stop)
			break;
		idle_remove(h, me);	/* woken by another's job, or spuriously */
		j = &h->jobs[h->queue[h->qhead]];
		h->qhead = (h->qhead + 1) % h->max;
		h->qlen--;
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&h->lock);
		job_run(h, j);
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/*
 * Take a request from the reader (m is stolen).  0, or ERR_PROTO_UNEXPECTED
 * when its id is already in flight.  Over the limit it is answered here.
 */
static int
job_queue(struct helper *h, struct proto_msg *m)
{
	unsigned i, free_i, w = UINT_MAX;
	uint32_t id = m->id;
	int type = m->type;

	pthread_mutex_lock(&h->lock);
	for (free_i = h->max, i = 0; i < h->max; i++) {
		if (h->jobs[i].state != JOB_FREE && h->jobs[i].id == id) {
			pthread_mutex_unlock(&h->lock);
			proto_msg_free(m);
			return ERR_PROTO_UNEXPECTED;
		}
		if (h->jobs[i].state == JOB_FREE && free_i == h->max)
			free_i = i;
	}
	if (free_i == h->max) {
		pthread_mutex_unlock(&h->lock);
		proto_msg_free(m);
		send_error(h, id, ERR_TOO_MANY, "%u requests are in flight already; %s refused",
		    h->max, proto_type_name(type));
		return 0;
	}
	h->jobs[free_i].state = JOB_QUEUED;
	h->jobs[free_i].id = id;
	h->jobs[free_i].req = m;
	h->queue[(h->qhead + h->qlen) % h->max] = free_i;
	h->qlen++;
	if (h->nidle > 0) {
		w = h->idle[--h->nidle];
		h->is_idle[w] = 0;
	}
	pthread_mutex_unlock(&h->lock);
	/* After the unlock: a worker woken under it would block on h->lock at once
	 * (two more futex calls and a switch per request).  None idle: the
	 * first to finish its job takes this one. */
	if (w != UINT_MAX)
		pthread_cond_signal(&h->wake_cv[w]);
	return 0;
}

/* ---- the session ---- */

/* The next whole message: 0 and *outp, ERR_PROTO_CLOSED at end of file, or the error. */
static int
read_one(int fd, struct proto_reader *rd, struct proto_msg **outp)
{
	struct pollfd pfd;
	int r;

	for (;;) {
		if ((r = proto_reader_next(rd, outp)) != 0 || *outp != NULL)
			return r;
		/*
		 * poll() first: a read() asleep on a Unix socket also wakes each
		 * time the daemon takes one of our replies off it (write space),
		 * to find nothing and sleep again; poll() wakes for input only.
		 * One system call more, one futile switch per request fewer.
		 */
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return ERR_IO;
		r = proto_reader_read(rd, fd);
		if (r != 0 && r != ERR_PROTO_CLOSED)
			return r;
		/* At end of file, proto_reader_next says what is left. */
	}
}

static void
helper_free(struct helper *h)
{
	size_t i;

	if (h == NULL)
		return;
	if (h->jobs != NULL)
		for (i = 0; i < h->max; i++)
			proto_msg_free(h->jobs[i].req);
	free(h->jobs);
	free(h->queue);
	free(h->workers);
	if (h->wake_cv != NULL)
		for (i = 0; i < h->max; i++)
			pthread_cond_destroy(&h->wake_cv[i]);
	free(h->wake_cv);
	free(h->is_idle);
	free(h->idle);
	for (i = 0; i < h->nkeys; i++)
		free(h->keys[i].uri);
	free(h->keys);
	snap_free(&h->snap);
	pthread_mutex_destroy(&h->wlock);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->mon_lock);
	pthread_cond_destroy(&h->mon_cv);
	pthread_mutex_destroy(&h->keys_lock);
	pthread_mutex_destroy(&h->memo_lock);
	free(h);
}

static int
helper_new(int fd, struct p11_module *m, const struct p11_helper_options *opt,
    struct helper **hp)
{
	struct p11_helper_options none;
	pthread_condattr_t ca;
	struct helper *h;
	unsigned i;

	*hp = NULL;
	if (opt == NULL) {
		memset(&none, 0, sizeof(none));
		opt = &none;
	}
	if (opt->max_inflight > P11_HELPER_INFLIGHT_MAX || opt->poll_ms < 0 ||
	    opt->event_poll_ms < 0 || opt->send_timeout_ms < 0 || opt->stop_ms < 0)
		return ERR_INVALID_ARGUMENT;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return ERR_NOMEM;
	h->fd = fd;
	h->m = m;
	clean(h->name, opt->name != NULL ? opt->name : "module");
	h->max = opt->max_inflight != 0 ? opt->max_inflight : P11_HELPER_INFLIGHT_DEFAULT;
	h->poll_ms = opt->poll_ms != 0 ? opt->poll_ms : P11_HELPER_POLL_MS_DEFAULT;
	h->event_poll_ms = opt->event_poll_ms != 0 ? opt->event_poll_ms :
	    P11_HELPER_EVENT_POLL_MS_DEFAULT;
	h->send_ms = opt->send_timeout_ms != 0 ? opt->send_timeout_ms : P11_HELPER_SEND_MS_DEFAULT;
	h->stop_ms = opt->stop_ms != 0 ? opt->stop_ms : P11_HELPER_STOP_MS_DEFAULT;
	h->quiet = opt->quiet;
	pthread_mutex_init(&h->wlock, NULL);
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->mon_lock, NULL);
	pthread_mutex_init(&h->keys_lock, NULL);
	pthread_mutex_init(&h->memo_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->mon_cv, &ca);
	pthread_condattr_destroy(&ca);
	h->jobs = calloc(h->max, sizeof(*h->jobs));
	h->queue = calloc(h->max, sizeof(*h->queue));
	h->workers = calloc(h->max, sizeof(*h->workers));
	h->is_idle = calloc(h->max, sizeof(*h->is_idle));
	h->idle = calloc(h->max, sizeof(*h->idle));
	if (h->jobs == NULL || h->queue == NULL || h->workers == NULL || h->is_idle == NULL ||
	    h->idle == NULL || (h->wake_cv = calloc(h->max, sizeof(*h->wake_cv))) == NULL) {
		helper_free(h);
		return ERR_NOMEM;
	}
	for (i = 0; i < h->max; i++)
		pthread_cond_init(&h->wake_cv[i], NULL);
	*hp = h;
	return 0;
}

/* Threads take no signals: they are the program's. */
static int
thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int e;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e;
}

/* Stop the threads; 1 when one is still busy after stop_ms (h must then stay). */
static int
helper_stop(struct helper *h)
{
	struct timespec until;
	unsigned i;
	int busy = 0;

	pthread_mutex_lock(&h->lock);
	h->stop = 1;
	for (i = 0; i < h->max; i++)
		pthread_cond_signal(&h->wake_cv[i]);
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_lock(&h->mon_lock);
	h->mon_stop = 1;
	pthread_cond_signal(&h->mon_cv);
	pthread_mutex_unlock(&h->mon_lock);

	clock_gettime(CLOCK_REALTIME, &until);
	ts_add_ms(&until, h->stop_ms);
	for (i = 0; i < h->nworkers; i++)
		if (pthread_timedjoin_np(h->workers[i], NULL, &until) != 0)
			busy = 1;
	if (h->mon_started && pthread_timedjoin_np(h->mon, NULL, &until) != 0)
		busy = 1;
	if (h->usb_started && pthread_timedjoin_np(h->usb_thread, NULL, &until) == 0) {
		libusb_hotplug_deregister_callback(h->usb, h->usb_cb);
		libusb_exit(h->usb);
		h->usb = NULL;
		h->usb_started = 0;
	}
	return busy;
}

/*
 * The daemon's CONFIGURE, right after HELLO: open the module with it and
 * answer with the key list.  0, or the error the session ends with (the
 * daemon has been told).  Steals msg.
 */
static int
configure(struct helper *h, struct proto_msg *msg, const struct p11_helper_options *opt)
{
	struct p11_module *m = NULL;
	struct proto_msg *list = NULL;
	struct job first;
	char why[TEXT_SZ];
	uint32_t id = msg->id;
	int r;

	if (msg->type != PROTO_CONFIGURE) {
		hlog(h, "the daemon sent %s before CONFIGURE", proto_type_name(msg->type));
		send_farewell(h, ERR_PROTO_UNEXPECTED, "CONFIGURE must follow HELLO, not %s",
		    proto_type_name(msg->type));
		r = ERR_PROTO_UNEXPECTED;
		goto out;
	}
	why[0] = '\0';
	r = opt->open(opt->open_ctx, &msg->configure, &m, why, sizeof(why));
	proto_msg_free(msg);	/* wipes the URIs, which may hold a PIN */
	msg = NULL;
	if (r != 0) {
		send_error(h, id, r, "%s", why[0] != '\0' ? why : err_str(r));
		goto out;
	}
	h->m = m;
	/* Events are about changes after this. */
	if (snap_take(h, &h->snap) != 0)
		snap_free(&h->snap);
	/* The answer is the list, as to LIST_KEYS, before any event can be sent. */
	if ((list = calloc(1, sizeof(*list))) == NULL) {
		send_error(h, id, ERR_NOMEM, "out of memory");
		r = ERR_NOMEM;
		goto out;
	}
	list->type = PROTO_LIST_KEYS;
	list->id = id;
	memset(&first, 0, sizeof(first));
	first.state = JOB_RUNNING;
	first.id = id;
	first.req = list;
	list = NULL;
	do_list(h, &first);
	pthread_mutex_lock(&h->wlock);
	r = h->dead ? h->write_err : 0;
	pthread_mutex_unlock(&h->wlock);
 out:
	proto_msg_free(msg);
	return r;
}

int
p11_helper_serve(int fd, const struct p11_helper_options *opt, struct p11_module **modp,
    int *busyp)
{
	struct proto_reader *rd = NULL;
	struct proto_msg *msg = NULL, reply;
	struct helper *h = NULL;
	unsigned i;
	uint32_t id;
	int r, e, busy = 0;

	if (busyp != NULL)
		*busyp = 0;
	if (modp != NULL)
		*modp = NULL;
	if (fd < 0 || opt == NULL || opt->open == NULL || modp == NULL)
		return ERR_INVALID_ARGUMENT;
	if ((r = helper_new(fd, NULL, opt, &h)) != 0)
		return r;
	if ((r = proto_reader_new(PROTO_FROM_DAEMON, &rd)) != 0)
		goto out;

	/* HELLO, and nothing else, first. */
	if ((r = read_one(fd, rd, &msg)) != 0) {
		if (r == ERR_PROTO_CLOSED) {
			r = 0;	/* the daemon went before it said anything */
			goto out;
		}
		hlog(h, "the daemon broke the token protocol: %s", err_str(r));
		send_farewell(h, r, "%s", err_str(r));
		goto out;
	}
	if (msg->type != PROTO_HELLO) {
		hlog(h, "the daemon sent %s before HELLO", proto_type_name(msg->type));
		send_farewell(h, ERR_PROTO_UNEXPECTED, "HELLO must come first, not %s",
		    proto_type_name(msg->type));
		r = ERR_PROTO_UNEXPECTED;
		goto out;
	}
	if (msg->hello.version != PROTO_VERSION) {
		hlog(h, "the daemon speaks token protocol version %lu, this helper %d",
		    (unsigned long)msg->hello.version, PROTO_VERSION);
		send_error(h, msg->id, ERR_PROTO_VERSION, "this helper speaks token protocol "
		    "version %d, not %lu", PROTO_VERSION, (unsigned long)msg->hello.version);
		r = ERR_PROTO_VERSION;
		goto out;
	}
	memset(&reply, 0, sizeof(reply));
	reply.type = PROTO_HELLO_REPLY;
	reply.id = msg->id;
	reply.hello.version = PROTO_VERSION;
	proto_msg_free(msg);
	msg = NULL;
	if ((r = send_msg(h, &reply)) != 0)
		goto out;

	/* Then CONFIGURE: the module is opened only now, with the daemon's URIs. */
	if ((r = read_one(fd, rd, &msg)) != 0) {
		if (r == ERR_PROTO_CLOSED) {
			r = 0;
			goto out;
		}
		hlog(h, "the daemon broke the token protocol: %s", err_str(r));
		send_farewell(h, r, "%s", err_str(r));
		goto out;
	}
	r = configure(h, msg, opt);	/* takes msg */
	msg = NULL;
	*modp = h->m;
	if (r != 0)
		goto out;

	for (i = 0; i < h->max; i++) {
		if ((e = thread_start(&h->workers[i], worker_main, h)) != 0)
			break;
		h->nworkers++;
	}
	if (h->nworkers < h->max) {
		hlog(h, "cannot start its threads");
		send_farewell(h, ERR_NOMEM, "the token helper cannot start its threads");
		r = ERR_NOMEM;
		goto out;
	}
	if (thread_start(&h->mon, mon_main, h) != 0) {
		hlog(h, "cannot start its monitor thread");
		send_farewell(h, ERR_NOMEM, "the token helper cannot start its threads");
		r = ERR_NOMEM;
		goto out;
	}
	h->mon_started = 1;
	if (usb_start(h))
		hlog(h, "USB hotplug notifications on: a token plugged in or out is rescanned at once");

	/* Requests, in any number and order, until the daemon closes. */
	for (;;) {
		if ((r = read_one(fd, rd, &msg)) != 0) {
			if (r == ERR_PROTO_CLOSED) {
				pthread_mutex_lock(&h->wlock);
				r = h->dead ? h->write_err : 0;
				pthread_mutex_unlock(&h->wlock);
				break;
			}
			hlog(h, "the daemon broke the token protocol: %s", err_str(r));
			send_farewell(h, r, "%s", err_str(r));
			break;
		}
		if (msg->type == PROTO_HELLO || msg->type == PROTO_CONFIGURE) {
			hlog(h, "the daemon sent %s again", proto_type_name(msg->type));
			send_farewell(h, ERR_PROTO_UNEXPECTED, "%s again",
			    proto_type_name(msg->type));
			r = ERR_PROTO_UNEXPECTED;
			break;
		}
		id = msg->id;
		r = job_queue(h, msg);	/* takes msg, whatever it returns */
		msg = NULL;
		if (r != 0) {
			hlog(h, "the daemon sent request %lu while it was in flight", (unsigned long)id);
			send_farewell(h, r, "request %lu is already in flight", (unsigned long)id);
			break;
		}
	}
 out:
	proto_msg_free(msg);
	proto_reader_free(rd);
	busy = helper_stop(h);
	if (busyp != NULL)
		*busyp = busy;
	if (busy)
		hlog(h, "a request is still inside the module");
	else
		helper_free(h);	/* else its threads still use it: the caller exits */
	return r;
}

int
p11_helper_refuse(int fd, int code, const char *message, int timeout_ms)
{
	struct proto_msg *m = NULL, e;
	struct timespec dl;
	char text[TEXT_SZ], why[TEXT_SZ];
	int r;

	if (timeout_ms >= 0)
		proto_deadline(timeout_ms, &dl);
	r = proto_recv(fd, PROTO_FROM_DAEMON, timeout_ms >= 0 ? &dl : NULL, &m);
	if (is_io_err(r))
		return r;
	memset(&e, 0, sizeof(e));
	e.type = PROTO_ERROR;
	e.error.message = text;
	if (r != 0) {
		e.error.code = r;
		clean(text, err_str(r));
	} else if (m->type != PROTO_HELLO) {
		e.error.code = ERR_PROTO_UNEXPECTED;
		snprintf(why, sizeof(why), "HELLO must come first, not %s", proto_type_name(m->type));
		clean(text, why);
	} else if (m->hello.version != PROTO_VERSION) {
		e.id = m->id;
		e.error.code = ERR_PROTO_VERSION;
		snprintf(why, sizeof(why), "this helper speaks token protocol version %d, not %lu",
		    PROTO_VERSION, (unsigned long)m->hello.version);
		clean(text, why);
	} else {
		e.id = m->id;
		e.error.code = code < 0 ? code : ERR_INTERNAL;
		clean(text, message != NULL ? message : err_str(code));
	}
	proto_msg_free(m);
	proto_deadline(timeout_ms >= 0 ? timeout_ms : P11_HELPER_SEND_MS_DEFAULT, &dl);
	r = proto_send(fd, &e, &dl);
	return r;
}
