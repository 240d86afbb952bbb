/*
 * ui_tty.c - the built-in terminal approver (see ui_tty.h).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "signer/ui_tty.h"

struct signer_ui_tty {
	int in_fd, out_fd;
	pthread_mutex_t lock;	/* one prompt at a time */
	atomic_int stopping;	/* signer_ui_tty_shutdown(): answer no at once */
};

/* Text being built for the terminal; errors are sticky and checked at the end. */
struct text {
	struct eth_buf b;
	int err;
};

static void
put(struct text *t, const char *s, size_t n)
{
	if (t->err == 0)
		t->err = eth_buf_put(&t->b, s, n);
}

static void
putf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
putf(struct text *t, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(t, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* An untrusted string: printable ASCII as is, every other byte as \xNN. */
static void
put_untrusted(struct text *t, const char *s, size_t n, size_t max)
{
	char esc[5];
	size_t i;

	for (i = 0; i < n && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			put(t, (const char *)&c, 1);
		else {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			put(t, esc, 4);
		}
	}
	if (n > max)
		putf(t, "... (%zu bytes more)", n - max);
}

static void
put_json_str(struct text *t, const json_t *v, size_t max)
{
	if (json_is_string(v))
		put_untrusted(t, json_string_value(v), json_string_length(v), max);
	else if (v == NULL || json_is_null(v))
		put(t, "-", 1);
	else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		if (s != NULL)
			put_untrusted(t, s, strlen(s), max);
		free(s);
	}
}

/* "  label   value" and what follows the value (its unit, the line's end). */
static void
field_then(struct text *t, const char *label, const json_t *v, size_t max, const char *then)
{
	putf(t, "  %-22s ", label);
	put_json_str(t, v, max);
	put(t, then, strlen(then));
}

/* A line of two values: indent, a, between, b. */
static void
pair_line(struct text *t, const char *indent, const json_t *a, size_t amax,
    const char *between, const json_t *b, size_t bmax)
{
	put(t, indent, strlen(indent));
	put_json_str(t, a, amax);
	put(t, between, strlen(between));
	put_json_str(t, b, bmax);
	put(t, "\n", 1);
}

static void
field(struct text *t, const char *label, const json_t *v)
{
	field_then(t, label, v, 300, "\n");
}

static void
caller_lines(struct text *t, const json_t *meta)
{
	static const char *const claims[] = { "Origin", "User-Agent", "remote", "X-Forwarded-For" };
	size_t i;

	putf(t, "  %-22s ", "caller (trusted)");
	put_json_str(t, json_object_get(meta, "caller_kind"), 16);
	put(t, " ", 1);
	put_json_str(t, json_object_get(meta, "caller"), 256);
	put(t, "\n", 1);
	for (i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
		const json_t *v = json_object_get(meta, claims[i]);
		char label[48];

		if (!json_is_string(v) || json_string_length(v) == 0)
			continue;
		snprintf(label, sizeof(label), "%s (claimed)", claims[i]);
		field(t, label, v);
	}
}

/* A Clef NameValueType tree: {name, type, value} where value may be a list. */
static void
tree(struct text *t, const json_t *nodes, int depth)
{
	size_t i;
	const json_t *n;

	if (depth > 40)
		return;
	json_array_foreach(nodes, i, n) {
		const json_t *v = json_object_get(n, "value");

		putf(t, "  %*s", depth * 2, "");
		put_json_str(t, json_object_get(n, "name"), 80);
		put(t, " (", 2);
		put_json_str(t, json_object_get(n, "type"), 80);
		put(t, ")", 1);
		if (json_is_array(v)) {
			put(t, ":\n", 2);
			tree(t, v, depth + 1);
		} else {
			put(t, ": ", 2);
			put_json_str(t, v, 600);
			put(t, "\n", 1);
		}
	}
}

/*
 * A summary the daemon wrote (eth/calldata.h): ASCII from decoded numbers and
 * addresses, and the ellipsis of a shortened address, which is let through;
 * anything else is escaped as from any untrusted string.
 */
static void
put_summary(struct text *t, const json_t *v)
{
	static const char ellipsis[] = "\xe2\x80\xa6";
	const char *s = json_string_value(v);
	size_t n = json_string_length(v), i = 0;

	if (s == NULL) {
		put_json_str(t, v, 300);
		return;
	}
	while (i < n && i < 400) {
		if (n - i >= 3 && memcmp(s + i, ellipsis, 3) == 0) {
			put(t, ellipsis, 3);
			i += 3;
		} else
			put_untrusted(t, s + i++, 1, 1);
	}
}

/* Decoded ABI values (eth/abi.h): name (type): value, arrays and tuples nested. */
static void
args_tree(struct text *t, const json_t *args, int depth)
{
	const json_t *a, *v;
	size_t i;

	if (depth > 12)
		return;
	json_array_foreach(args, i, a) {
		v = json_object_get(a, "value");
		putf(t, "  %*s", 4 + depth * 2, "");
		if (json_object_get(a, "name") != NULL) {
			put_json_str(t, json_object_get(a, "name"), 64);
			put(t, " ", 1);
		} else
			putf(t, "[%zu] ", i);
		put(t, "(", 1);
		put_json_str(t, json_object_get(a, "type"), 120);
		put(t, ")", 1);
		if (json_is_array(v)) {
			put(t, ":\n", 2);
			args_tree(t, v, depth + 1);
		} else if (v == NULL) {
			put(t, ": not UTF-8, as hex ", 20);
			put_json_str(t, json_object_get(a, "value_hex"), 600);
			put(t, "\n", 1);
		} else {
			put(t, ": ", 2);
			put_json_str(t, v, 600);
			put(t, "\n", 1);
		}
	}
}

/* The decoded call (eth/calldata.h "call" object) and its inner calls. */
static void
call_view(struct text *t, const json_t *call, int depth)
{
	const char *status = json_string_value(json_object_get(call, "status"));
	const json_t *c, *cands;
	size_t i;

	if (call == NULL || status == NULL || depth > 4)
		return;
	putf(t, "  %*s", depth * 4, "");
	if (strcmp(status, "decoded") == 0) {
		if (json_object_get(call, "summary") != NULL) {
			put_summary(t, json_object_get(call, "summary"));
			put(t, "\n", 1);
			putf(t, "  %*s", depth * 4, "");
		}
		put(t, "calls ", 6);
		put_json_str(t, json_object_get(call, "signature"), 300);
		if (json_is_string(json_object_get(call, "source")) &&
		    strcmp(json_string_value(json_object_get(call, "source")), "caller") == 0)
			put(t, " (as the caller names it)", 25);
		put(t, "\n", 1);
		args_tree(t, json_object_get(call, "args"), depth * 2);
	} else if (strcmp(status, "ambiguous") == 0) {
		put(t, "calls ", 6);
		put_json_str(t, json_object_get(call, "selector"), 16);
		put(t, ": AMBIGUOUS, not decoded; it is one of:\n", 40);
		cands = json_object_get(call, "candidates");
		json_array_foreach(cands, i, c) {
			putf(t, "  %*s    ", depth * 4, "");
			put_json_str(t, c, 300);
			put(t, "\n", 1);
		}
	} else if (strcmp(status, "undecodable") == 0) {
		put(t, "calls ", 6);
		put_json_str(t, json_object_get(call, "signature"), 300);
		put(t, ", but the data does NOT decode by it: ", 38);
		put_json_str(t, json_object_get(call, "error"), 200);
		put(t, "\n", 1);
	} else {
		put(t, "calls an unknown method ", 24);
		put_json_str(t, json_object_get(call, "selector"), 16);
		put(t, "\n", 1);
	}
	if (json_is_true(json_object_get(call, "unlimited")))
		putf(t, "  %*s!! UNLIMITED: everything the account holds of this token, now and later\n",
		    depth * 4, "");
	json_array_foreach(json_object_get(call, "calls"), i, c) {
		putf(t, "  %*s- call %zu: ", depth * 4, "", i + 1);
		if (json_integer_value(json_object_get(c, "operation")) == 1)
			put(t, "DELEGATECALL (runs with the caller's rights) ", 45);
		put(t, "to ", 3);
		put_json_str(t, json_object_get(c, "to"), 64);
		put(t, ", value ", 8);
		put_json_str(t, json_object_get(c, "value_wei"), 80);
		put(t, " wei, data ", 11);
		put_json_str(t, json_object_get(c, "data_bytes"), 20);
		put(t, " bytes\n", 7);
		call_view(t, json_object_get(c, "call"), depth + 1);
	}
}

static void
render_tx(struct text *t, const json_t *req)
{
	const json_t *d = json_object_get(req, "decoded"), *m;
	size_t i;

	put(t, "Sign a transaction\n", 19);
	if (d == NULL) {
		field(t, "transaction", json_object_get(req, "transaction"));
	} else {
		field(t, "type", json_object_get(d, "type"));
		field_then(t, "chain", json_object_get(d, "chainId"), 80, "");
		if (json_object_get(d, "chain_name") != NULL) {
			put(t, " (", 2);
			put_json_str(t, json_object_get(d, "chain_name"), 40);
			put(t, ")", 1);
		}
		put(t, "\n", 1);
		field(t, "from", json_object_get(d, "from"));
		if (json_is_null(json_object_get(d, "to")))
			putf(t, "  %-22s (creates a contract)\n", "to");
		else
			field(t, "to", json_object_get(d, "to"));
		field_then(t, "value", json_object_get(d, "value_eth"), 100, " ETH\n");
		if (json_object_get(d, "call") != NULL) {
			put(t, "  what it does:\n", 16);
			call_view(t, json_object_get(d, "call"), 1);
		} else if (json_object_get(d, "method") != NULL)
			field(t, "calls", json_object_get(d, "method"));
		field(t, "gas limit", json_object_get(d, "gas"));
		if (json_object_get(d, "gasPrice_wei") != NULL) {
			field_then(t, "gas price", json_object_get(d, "gasPrice_gwei"), 100, " gwei\n");
		} else {
			field_then(t, "max fee", json_object_get(d, "maxFeePerGas_gwei"), 100,
			    " gwei/gas, tip ");
			put_json_str(t, json_object_get(d, "maxPriorityFeePerGas_gwei"), 100);
			put(t, " gwei/gas\n", 10);
		}
		if (json_object_get(d, "maxFeePerBlobGas_wei") != NULL) {
			field_then(t, "max blob fee", json_object_get(d, "maxFeePerBlobGas_gwei"), 100,
			    " gwei/blob gas\n");
		}
		if (json_object_get(d, "max_cost_eth") != NULL) {
			field_then(t, "costs at most", json_object_get(d, "max_cost_eth"), 100,
			    " ETH (value + gas limit x max fee)\n");
		}
		field(t, "nonce", json_object_get(d, "nonce"));
		field_then(t, "data", json_object_get(d, "data_bytes"), 20, " bytes");
		if (json_integer_value(json_object_get(d, "data_bytes")) > 0)
			put(t, " (answer d to see them)", 23);
		put(t, "\n", 1);
		if (json_object_get(d, "authorizations") != NULL) {
			put(t, "  EIP-7702: this account's code is delegated to:\n", 49);
			json_array_foreach(json_object_get(d, "authorizations"), i, m) {
				pair_line(t, "    ", json_object_get(m, "delegate_to"), 64,
				    " on chain ", json_object_get(m, "chainId"), 80);
			}
		}
	}
	json_array_foreach(json_object_get(req, "call_info"), i, m) {
		pair_line(t, "  ", json_object_get(m, "type"), 16, ": ",
		    json_object_get(m, "message"), 300);
	}
}

/* The transaction's data in hex: the selector, then one 32-byte word a line. */
static void
render_data(struct text *t, const json_t *req)
{
	const json_t *tx = json_object_get(req, "transaction");
	const json_t *v = json_object_get(tx, "input");
	const char *s;
	size_t n, at;

	if (!json_is_string(v))
		v = json_object_get(tx, "data");
	if (!json_is_string(v) || json_string_length(v) <= 2) {
		put(t, "(no data)\n", 10);
		return;
	}
	s = json_string_value(v) + 2;
	n = json_string_length(v) - 2;
	put(t, "data:\n  0x", 10);
	put_untrusted(t, s, n < 8 ? n : 8, 8);
	put(t, "\n", 1);
	for (at = 8; at < n; at += 64) {
		putf(t, "  %5zu  ", (at - 8) / 2);
		put_untrusted(t, s + at, n - at < 64 ? n - at : 64, 64);
		put(t, "\n", 1);
	}
}

static void
render(struct text *t, const char *method, const json_t *req)
{
	size_t i;
	const json_t *a;

	put(t, "\n==== p11signer: approval needed ====\n", 38);
	caller_lines(t, json_object_get(req, "meta"));
	if (strcmp(method, "ui_approveTx") == 0)
		render_tx(t, req);
	else if (strcmp(method, "ui_approveSignData") == 0) {
		put(t, "Sign data\n", 10);
		field(t, "content type", json_object_get(req, "content_type"));
		field(t, "key", json_object_get(req, "address"));
		field(t, "hash", json_object_get(req, "hash"));
		tree(t, json_object_get(req, "messages"), 0);
	} else if (strcmp(method, "ui_approveListing") == 0) {
		put(t, "List these accounts to the caller\n", 34);
		json_array_foreach(json_object_get(req, "accounts"), i, a) {
			pair_line(t, "  ", json_object_get(a, "address"), 64, "  ",
			    json_object_get(a, "url"), 200);
		}
	} else if (strcmp(method, "ui_approveNewAccount") == 0)
		put(t, "Make a new key on the token\n", 28);
	else {
		put(t, "Unknown request ", 16);
		put_untrusted(t, method, strlen(method), 64);
		put(t, "\n", 1);
	}
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return ERR_IO;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
signer_ui_tty_render(int out_fd, const char *method, const json_t *request)
{
	struct text t = { { 0 }, 0 };
	int r;

	render(&t, method, request);
	r = t.err != 0 ? t.err : write_all(out_fd, t.b.p, t.b.len);
	eth_buf_free(&t.b);
	return r;
}

int
signer_ui_tty_render_data(int out_fd, const json_t *request)
{
	struct text t = { { 0 }, 0 };
	int r;

	render_data(&t, request);
	r = t.err != 0 ? t.err : write_all(out_fd, t.b.p, t.b.len);
	eth_buf_free(&t.b);
	return r;
}

int
signer_ui_tty_open(int in_fd, int out_fd, struct signer_ui_tty **outp)
{
	struct signer_ui_tty *t;

	*outp = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return ERR_NOMEM;
	t->in_fd = in_fd;
	t->out_fd = out_fd;
	pthread_mutex_init(&t->lock, NULL);
	*outp = t;
	return 0;
}

void
signer_ui_tty_shutdown(struct signer_ui_tty *t)
{
	if (t != NULL)
		atomic_store(&t->stopping, 1);
}

void
signer_ui_tty_close(struct signer_ui_tty *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* The caller still wants the answer (no still_wanted: it cannot tell, so yes). */
struct watch {
	int (*still_wanted)(const void *arg);
	const void *arg;
};

/* read_answer(): "d", show the transaction's data and ask again */
#define TTY_ANSWER_DATA 2

static int
wanted(const struct watch *w)
{
	return w->still_wanted == NULL || w->still_wanted(w->arg);
}

/*
 * Read one line within the deadline; 1 for y/yes, 0 for anything else,
 * ERR_TIMEOUT, ERR_IO at EOF or shutdown, ERR_WITHDRAWN when the caller went.
 */
static int
read_answer(struct signer_ui_tty *t, int fd, long long deadline, const struct watch *w)
{
	char line[64];
	size_t n = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (;;) {
		long long left = deadline - clock_now_ms();
		ssize_t r;
		char c;

		if (left <= 0)
			return ERR_TIMEOUT;
		if (atomic_load(&t->stopping))
			return ERR_IO;
		if (!wanted(w))
			return ERR_WITHDRAWN;
		r = poll(&p, 1, left > 200 ? 200 : (int)left);
		if (r < 0 && errno != EINTR)
			return ERR_IO;
		if (r <= 0)
			continue;
		if ((r = read(fd, &c, 1)) < 0) {
			if (errno == EINTR)
				continue;
			return ERR_IO;
		}
		if (r == 0)
			return ERR_IO;
		if (c == '\n')
			break;
		if (n < sizeof(line) - 1)
			line[n++] = c;
	}
	line[n] = '\0';
	if (strcmp(line, "d") == 0)
		return TTY_ANSWER_DATA;
	return strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 || strcmp(line, "yes") == 0;
}

/*
 * Type-ahead must never answer a question: a "y" typed while nothing was
 * pending, or while the request was still being drawn, was not typed in
 * answer to what is on the screen.  Discards what is pending on a terminal
 * and returns 1 when there was something, else 0.  Other descriptors (the
 * pipes of the unit tests) are left alone: --ui tty always reads /dev/tty.
 */
static int
discard_typeahead(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int pending;

	if (!isatty(fd))
		return 0;
	pending = poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0;
	(void)tcflush(fd, TCIFLUSH);
	return pending;
}

/* Ask again at most this often when keys keep arriving before the prompt is out. */
#define TTY_MAX_REASK 5

int
signer_ui_tty_ask(void *ctx, const char *method, const json_t *request,
    int timeout_ms, json_t **resultp)
{
	return signer_ui_tty_ask_watched(ctx, method, request, timeout_ms, NULL, NULL, resultp);
}

int
signer_ui_tty_ask_watched(void *ctx, const char *method, const json_t *request,
    int timeout_ms, int (*still_wanted)(const void *arg), const void *arg,
    json_t **resultp)
{
	static const char gone[] = "\n(withdrawn: the caller is gone; nothing will be signed)\n";
	static const char reask[] = "\n(keys typed before the question was shown were "
	    "discarded: answer now)\n";
	static const char denied[] = "\n(keys keep coming: denied)\n";
	struct signer_ui_tty *t = ctx;
	struct watch w = { still_wanted, arg };
	long long deadline = clock_now_ms() + timeout_ms;
	char prompt[96];
	int r, yes, asked;

	*resultp = NULL;
	pthread_mutex_lock(&t->lock);
	if (clock_now_ms() >= deadline || atomic_load(&t->stopping)) {
		pthread_mutex_unlock(&t->lock);
		return ERR_TIMEOUT;
	}
	/* It waited for the terminal: a caller gone meanwhile is not asked about. */
	if (!wanted(&w)) {
		pthread_mutex_unlock(&t->lock);
		return ERR_WITHDRAWN;
	}
	(void)discard_typeahead(t->in_fd);
	if ((r = signer_ui_tty_render(t->out_fd, method, request)) != 0)
		goto out;
	for (asked = 0;; asked++) {
		snprintf(prompt, sizeof(prompt), "Approve? [y/N] (no answer in %lld s is no) ",
		    (deadline - clock_now_ms() + 999) / 1000);
		if ((r = write_all(t->out_fd, (const uint8_t *)prompt, strlen(prompt))) != 0)
			goto out;
		/* Keys that came while the request was drawn were not an answer to it. */
		if (!discard_typeahead(t->in_fd))
			break;
		if (asked == TTY_MAX_REASK || clock_now_ms() >= deadline) {
			(void)write_all(t->out_fd, (const uint8_t *)denied, sizeof(denied) - 1);
			r = ERR_TIMEOUT;
			goto out;
		}
		if ((r = write_all(t->out_fd, (const uint8_t *)reask, sizeof(reask) - 1)) != 0)
			goto out;
	}
	yes = read_answer(t, t->in_fd, deadline, &w);
	if (yes == ERR_WITHDRAWN) {
		r = yes;
		(void)write_all(t->out_fd, (const uint8_t *)gone, sizeof(gone) - 1);
		goto out;
	}
	if (yes < 0) {
		r = yes;
		(void)write_all(t->out_fd, (const uint8_t *)"\n(no answer: denied)\n", 21);
		goto out;
	}
	/* "d" (transactions): the raw data, then the same question again */
	while (yes == TTY_ANSWER_DATA && strcmp(method, "ui_approveTx") == 0) {
		if ((r = signer_ui_tty_render_data(t->out_fd, request)) != 0 ||
		    (r = write_all(t->out_fd, (const uint8_t *)prompt, strlen(prompt))) != 0)
			goto out;
		if ((yes = read_answer(t, t->in_fd, deadline, &w)) < 0) {
			r = yes;
			if (yes == ERR_WITHDRAWN)
				(void)write_all(t->out_fd, (const uint8_t *)gone, sizeof(gone) - 1);
			else
				(void)write_all(t->out_fd, (const uint8_t *)"\n(no answer: denied)\n",
				    21);
			goto out;
		}
	}
	yes = yes == 1;
	/* a listing refused is {"accounts": null}, as Clef's own terminal UI answers: denied */
	if (strcmp(method, "ui_approveListing") == 0)
		*resultp = yes ? json_pack("{s:O}", "accounts", json_object_get(request, "accounts"))
		    : json_pack("{s:n}", "accounts");
	else
		*resultp = json_pack("{s:b}", "approved", yes);
	r = *resultp != NULL ? 0 : ERR_NOMEM;
 out:
	pthread_mutex_unlock(&t->lock);
	return r;
}

void
signer_ui_tty_notify(void *ctx, const char *method, const json_t *params)
{
	struct signer_ui_tty *t = ctx;
	struct text x = { { 0 }, 0 };

	if (strcmp(method, "ui_onApprovedTx") == 0) {
		put(&x, "signed; transaction hash ", 25);
		put_json_str(&x, json_object_get(json_object_get(params, "tx"), "hash"), 80);
		put(&x, "\n", 1);
	} else if (strcmp(method, "ui_showInfo") == 0 || strcmp(method, "ui_showError") == 0) {
		put(&x, method + 7, strlen(method + 7));
		put(&x, ": ", 2);
		put_json_str(&x, json_object_get(params, "text"), 300);
		put(&x, "\n", 1);
	} else
		goto out;
	pthread_mutex_lock(&t->lock);
	if (x.err == 0)
		(void)write_all(t->out_fd, x.b.p, x.b.len);
	pthread_mutex_unlock(&t->lock);
 out:
	eth_buf_free(&x.b);
}
