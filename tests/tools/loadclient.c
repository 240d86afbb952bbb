/*
 * loadclient - TEST TOOL: concurrent, checked load on `p11signer serve` over
 * HTTP, for tests/load/load.test.  Loopback only; every run is bounded in
 * count and time.
 *
 *   loadclient mixed --url URL --addr ADDR --chainid N --records FILE
 *       [--clients N] [--requests N] [--stop-file PATH] [--slow N]
 *       [--slow-byte-ms MS] [--pace-ms MS] [--binary-text] [--timeout S] [--seed N]
 *   loadclient malformed --url URL --addr ADDR --chainid N
 *       [--clients N] [--requests N] [--timeout S] [--seed N] [--dump]
 *
 * mixed: --clients threads, each one libcurl easy handle (so one HTTP/1.1
 * keep-alive connection while the server keeps it), each sending --requests
 * POSTs of generated requests one after the other: account_list,
 * account_signTransaction (legacy, EIP-2930, EIP-1559, EIP-4844, EIP-7702),
 * account_signData text/plain (printable text; with --binary-text half of them
 * any bytes, as a 32-byte hash), account_signTypedData, and requests that must
 * be refused (unknown method, another chain id, an account not on the token,
 * a recipient without checksum, bad hex), now and then several of them in
 * one batch.  Every id is unique in the run.  The tool checks the transport:
 * HTTP 200, a JSON answer, one answer per request whose id is the request's
 * (a batch: every id once, no other), each with a result or an error.  It
 * writes one JSON line per request to --records:
 *
 *   {"client":C,"seq":S,"t0":MS,"t1":MS,"kind":K,"txtype":T,"expect":RE,
 *    "req":{...},"resp":{...}|null,"problem":null|"what went wrong"}
 *
 * (t0, t1: CLOCK_REALTIME in ms when the POST started and ended; kind:
 * list, tx, personal, personal_bytes, typed or invalid; expect: for invalid,
 * a regular expression the error message must match), for
 * tests/load/verify.js to check the signatures with ethers.js.  --stop-file: each client also stops when that
 * file exists (a test that injects faults runs the load as long as its
 * schedule).  --pace-ms: each client waits that long between its requests.
 * --slow N: first open N more connections that each send one request
 * (account_list, its body padded with spaces) one byte every --slow-byte-ms
 * (100) ms, connection k after a first burst of 15k bytes, so that they
 * stand at different places of the request (line, headers, body); the
 * clients start once every slow connection has trickled its first byte;
 * when the clients are done the slow connections send the rest at once and
 * read their answers, which are recorded as well.
 *
 * malformed: --requests (default 10000) generated bad requests over
 * --clients connections: bad JSON, wrong types, deep nesting, unknown
 * methods, bad hex, oversized quantities, other chain ids, bad params,
 * batches of bad items, and every 500th a huge body at, under and over
 * LIMIT_JSON_BODY (with Content-Length, chunked, with "Expect:
 * 100-continue").  Each must be answered by a JSON-RPC error (a batch: an
 * array of as many errors as it had items), and a body over the limit by
 * HTTP 413.  Request i is the same in every run with the same --seed;
 * --dump prints them (cut) instead of sending them.
 *
 * --timeout (30): seconds one request may take; a request that takes longer
 * is a problem ("no answer"), so nothing the tool does can hang.
 *
 * Prints one summary line and, on stderr, the first problems:
 *   mixed clients=N posts=N items=N answered=N results=N errors=N problems=N
 *         connections=N seconds=S [slow=N slow_answered=N
 *         slow_incomplete_when_clients_done=N slow_bytes_sent_then=MIN..MAX/TOTAL]
 *   malformed requests=N refused=N json_rpc_errors=N error_batches=N
 *         http_413=N problems=N connections=N categories=NAME:OK/N,...
 * (posts: HTTP requests; items: JSON-RPC requests in them; connections: TCP
 * connections opened, which keep-alive keeps to one per client.)  Exit 0 when the transport checks all
 * passed (mixed) or every bad request got its refusal (malformed), 1 when
 * not, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/limits.h"

#define LC_MAX_CLIENTS		64
#define LC_MAX_SLOW		64
#define LC_MAX_ANSWER		(8u * 1024 * 1024)
#define LC_SHOWN_PROBLEMS	10
#define LC_BATCH_MAX_MIXED	4
#define LC_SLOW_PAD		600	/* spaces after the slow request's JSON */
#define LC_SLOW_WAIT_S		120	/* longest a slow connection waits for the clients */

/* A recipient with an EIP-55 checksum, and the same address without one. */
static const char lc_to[] = "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045";
static const char lc_to_lower[] = "0xd8da6bf26964af9d7eed9e03e53415d37aa96045";

struct lc_opts {
	int malformed;
	const char *url;
	const char *addr;		/* the token's key, 0x + 40 hex */
	unsigned long chainid;
	const char *records;
	const char *stop_file;
	unsigned clients;
	unsigned long requests;		/* mixed: per client; malformed: total */
	unsigned slow;
	unsigned slow_byte_ms;
	unsigned pace_ms;
	int binary_text;		/* mixed: signData text/plain of any bytes too */
	int dump;			/* malformed: print the requests, send nothing */
	long timeout_s;
	uint64_t seed;
	char host[64];			/* from url, for the slow connections */
	unsigned port;
};

/* ---- small things ---- */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* xorshift64*: reproducible test data, not secrets. */
struct lc_rng {
	uint64_t s;
};

static void
rng_seed(struct lc_rng *r, uint64_t a, uint64_t b)
{
	r->s = (a * 0x9E3779B97F4A7C15ull) ^ (b + 0x632BE59BD9B4E019ull) ^ 0xD1B54A32D192ED03ull;
	if (r->s == 0)
		r->s = 1;
}

static uint64_t
rng_next(struct lc_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ull;
}

/* Uniform enough in [0, n), n > 0. */
static unsigned long
rng_below(struct lc_rng *r, unsigned long n)
{
	return (unsigned long)(rng_next(r) % n);
}

/* A growable string; out-of-memory aborts (a test tool). */
struct sbuf {
	char *p;
	size_t len, cap;
};

static void
sb_reserve(struct sbuf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->len + more + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	if ((p = realloc(b->p, cap)) == NULL) {
		fprintf(stderr, "loadclient: out of memory\n");
		abort();
	}
	b->p = p;
	b->cap = cap;
}

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	sb_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_adds(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void
sb_addc(struct sbuf *b, char c, size_t n)
{
	sb_reserve(b, n);
	memset(b->p + b->len, c, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_addf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	sb_reserve(b, 64);
	room = b->cap - b->len;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if ((size_t)n >= room) {	/* it did not fit: again, with room */
		sb_reserve(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static void
sb_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

static void
sb_free(struct sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* n random bytes as 2n hex digits. */
static void
sb_hex_digits(struct sbuf *b, struct lc_rng *r, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < 2 * n; i++)
		sb_addc(b, digits[rng_below(r, 16)], 1);
}

/* n random bytes as 0x + 2n hex digits. */
static void
sb_hex_bytes(struct sbuf *b, struct lc_rng *r, size_t n)
{
	sb_adds(b, "0x");
	sb_hex_digits(b, r, n);
}

/* n random bytes as a quantity: 0x, then 2n hex digits, the first not 0. */
static void
sb_hex_quantity(struct sbuf *b, struct lc_rng *r, size_t n)
{
	sb_addf(b, "0x%c", "123456789abcdef"[rng_below(r, 15)]);
	sb_hex_digits(b, r, n);
	b->len--;
	b->p[b->len] = '\0';
}

/* A quantity: 0x, no leading zeros. */
static void
sb_quantity(struct sbuf *b, uint64_t v)
{
	sb_addf(b, "0x%" PRIx64, v);
}

/* ---- HTTP ---- */

struct lc_answer {
	struct sbuf body;
	int too_big;
};

static size_t
on_http_data(char *data, size_t size, size_t n, void *arg)
{
	struct lc_answer *a = arg;
	size_t len = size * n;

	if (a->body.len + len > LC_MAX_ANSWER) {
		a->too_big = 1;
		return len;
	}
	sb_add(&a->body, data, len);
	return len;
}

/* The body of a chunked upload, read by libcurl. */
struct lc_upload {
	const char *p;
	size_t len, off;
};

static size_t
on_http_read(char *buf, size_t size, size_t n, void *arg)
{
	struct lc_upload *u = arg;
	size_t want = size * n, left = u->len - u->off;

	if (want > left)
		want = left;
	/* Uneven pieces, so the server sees several chunks. */
	if (want > 60000)
		want = 60000;
	memcpy(buf, u->p + u->off, want);
	u->off += want;
	return want;
}

enum lc_send {
	LC_SEND_PLAIN,		/* Content-Length, no Expect */
	LC_SEND_EXPECT100,	/* Content-Length, Expect: 100-continue */
	LC_SEND_CHUNKED,	/* Transfer-Encoding: chunked */
};

struct lc_http {
	const struct lc_opts *o;
	CURL *keep;		/* the keep-alive connection of plain requests */
	CURL *special;		/* chunked and Expect: 100-continue requests */
	struct curl_slist *hdr_plain, *hdr_expect, *hdr_chunked;
	unsigned long connections;	/* new connections opened */
	char errbuf[CURL_ERROR_SIZE];
};

static int
http_init(struct lc_http *h, const struct lc_opts *o)
{
	memset(h, 0, sizeof(*h));
	h->o = o;
	h->hdr_plain = curl_slist_append(NULL, "Content-Type: application/json");
	h->hdr_plain = curl_slist_append(h->hdr_plain, "Expect:");
	h->hdr_expect = curl_slist_append(NULL, "Content-Type: application/json");
	h->hdr_expect = curl_slist_append(h->hdr_expect, "Expect: 100-continue");
	h->hdr_chunked = curl_slist_append(NULL, "Content-Type: application/json");
	h->hdr_chunked = curl_slist_append(h->hdr_chunked, "Transfer-Encoding: chunked");
	h->hdr_chunked = curl_slist_append(h->hdr_chunked, "Expect:");
	h->keep = curl_easy_init();
	h->special = curl_easy_init();
	return h->hdr_plain && h->hdr_expect && h->hdr_chunked && h->keep && h->special ? 0 : -1;
}

static void
http_free(struct lc_http *h)
{
	curl_easy_cleanup(h->keep);
	curl_easy_cleanup(h->special);
	curl_slist_free_all(h->hdr_plain);
	curl_slist_free_all(h->hdr_expect);
	curl_slist_free_all(h->hdr_chunked);
}

/*
 * POST body; the answer into a, the status into *statusp.  0, or -1 with
 * h->errbuf saying why (no answer at all: transport error or timeout).
 */
static int
http_post(struct lc_http *h, enum lc_send how, const char *body, size_t len,
    struct lc_answer *a, long *statusp)
{
	struct lc_upload up = { body, len, 0 };
	CURL *c = how == LC_SEND_PLAIN ? h->keep : h->special;
	long conns = 0;
	CURLcode cr;

	sb_reset(&a->body);
	a->too_big = 0;
	*statusp = 0;
	h->errbuf[0] = '\0';
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, h->o->url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_http_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, h->o->timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	switch (how) {
	case LC_SEND_PLAIN:
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->hdr_plain);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		break;
	case LC_SEND_EXPECT100:
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->hdr_expect);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		/* wait for the server's verdict rather than send after 1 s */
		curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 30000L);
		break;
	case LC_SEND_CHUNKED:
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->hdr_chunked);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_http_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &up);
		break;
	}
	cr = curl_easy_perform(c);
	if (curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns) == CURLE_OK && conns > 0)
		h->connections += (unsigned long)conns;
	if (cr != CURLE_OK) {
		if (h->errbuf[0] == '\0')
			snprintf(h->errbuf, sizeof(h->errbuf), "%s", curl_easy_strerror(cr));
		return -1;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, statusp);
	if (a->too_big) {
		snprintf(h->errbuf, sizeof(h->errbuf), "answer over %u bytes", LC_MAX_ANSWER);
		return -1;
	}
	return 0;
}

/* ---- mixed load ---- */

/* One JSON-RPC request of the mixed load, and what became of it. */
struct lc_item {
	json_t *req;
	const char *kind;	/* list, tx, personal, typed, invalid */
	int txtype;		/* tx: 0..4 as sent; else -1 */
	const char *expect;	/* invalid: regex the error must match */
	json_t *resp;		/* borrowed from the parsed answer */
	char problem[200];
};

struct lc_records {
	pthread_mutex_t lock;
	FILE *f;
};

struct lc_stats {
	unsigned long posts, items, answered, results, errors, problems, connections;
	char first_problem[LC_SHOWN_PROBLEMS][300];
	unsigned nshown;
};

struct lc_client {
	pthread_t thread;
	const struct lc_opts *o;
	unsigned index;
	struct lc_records *rec;
	struct lc_stats st;
};

static void note_problem(struct lc_stats *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
note_problem(struct lc_stats *st, const char *fmt, ...)
{
	va_list ap;

	st->problems++;
	if (st->nshown == LC_SHOWN_PROBLEMS)
		return;
	va_start(ap, fmt);
	vsnprintf(st->first_problem[st->nshown++], sizeof(st->first_problem[0]), fmt, ap);
	va_end(ap);
}

static json_t *
json_from(const struct sbuf *b)
{
	json_error_t jerr;
	json_t *j = json_loadb(b->p, b->len, 0, &jerr);

	if (j == NULL) {
		fprintf(stderr, "loadclient: generated JSON does not parse (%s): %.300s\n",
		    jerr.text, b->p);
		abort();
	}
	return j;
}

static json_t *
make_request(json_t *id, const char *method, json_t *params)
{
	/* Steals params. */
	return json_pack("{s:s, s:O, s:s, s:o}", "jsonrpc", "2.0", "id", id, "method", method,
	    "params", params);
}

/* The params of an account_signTransaction of type txtype, nonce seq. */
static json_t *
tx_params(const struct lc_opts *o, struct lc_rng *r, int txtype, uint64_t nonce,
    const char *from, const char *to, const char *chain_id)
{
	struct sbuf b = { 0 };
	uint64_t value = rng_next(r);
	json_t *p;

	value >>= rng_below(r, 64);
	sb_addf(&b, "[{\"from\":\"%s\",\"to\":\"%s\",\"nonce\":", from, to);
	sb_adds(&b, "\"");
	sb_quantity(&b, nonce);
	sb_adds(&b, "\",\"value\":\"");
	sb_quantity(&b, value);
	sb_adds(&b, "\"");
	if (chain_id != NULL)
		sb_addf(&b, ",\"chainId\":\"%s\"", chain_id);
	switch (txtype) {
	case 0:		/* legacy, EIP-155 with the signer's chain id */
		sb_adds(&b, ",\"gas\":\"0x5208\",\"gasPrice\":\"0x3b9aca00\"");
		break;
	case 1:		/* EIP-2930 */
		sb_addf(&b, ",\"gas\":\"0x7000\",\"gasPrice\":\"0x1\",\"accessList\":[{\"address\":\"%s\","
		    "\"storageKeys\":[\"", lc_to);
		sb_hex_bytes(&b, r, 32);
		sb_adds(&b, "\"]}]");
		break;
	case 2:		/* EIP-1559 with an ERC-20 transfer as data */
		sb_addf(&b, ",\"gas\":\"0x15f90\",\"maxFeePerGas\":\"0x77359400\","
		    "\"maxPriorityFeePerGas\":\"0x3b9aca00\",\"data\":\"0xa9059cbb"
		    "000000000000000000000000d8da6bf26964af9d7eed9e03e53415d37aa96045"
		    "%064" PRIx64 "\"", rng_next(r));
		break;
	case 3:		/* EIP-4844 */
		sb_adds(&b, ",\"gas\":\"0x5208\",\"maxFeePerGas\":\"0x77359400\","
		    "\"maxPriorityFeePerGas\":\"0x3b9aca00\",\"maxFeePerBlobGas\":\"0x1\","
		    "\"blobVersionedHashes\":[\"0x01");
		sb_hex_digits(&b, r, 31);
		sb_adds(&b, "\"]");
		break;
	default:	/* EIP-7702 */
		sb_addf(&b, ",\"gas\":\"0x186a0\",\"maxFeePerGas\":\"0x77359400\","
		    "\"maxPriorityFeePerGas\":\"0x3b9aca00\",\"authorizationList\":[{"
		    "\"chainId\":\"0x%lx\",\"address\":\"%s\",\"nonce\":\"", o->chainid, lc_to);
		sb_quantity(&b, rng_below(r, 1000));
		sb_adds(&b, "\",\"yParity\":\"0x1\",\"r\":\"");
		sb_hex_quantity(&b, r, 31);
		sb_adds(&b, "\",\"s\":\"");
		sb_hex_quantity(&b, r, 31);	/* below n/2 */
		sb_adds(&b, "\"}]");
		break;
	}
	sb_adds(&b, "}]");
	p = json_from(&b);
	sb_free(&b);
	return p;
}

static json_t *
typed_params(const struct lc_opts *o, struct lc_rng *r)
{
	struct sbuf b = { 0 };
	uint64_t contents = rng_next(r), a0 = rng_next(r) >> 1, a1 = rng_next(r) >> 1;
	json_t *p;

	sb_addf(&b, "[\"%s\",{\"types\":{\"EIP712Domain\":[{\"name\":\"name\",\"type\":\"string\"},"
	    "{\"name\":\"chainId\",\"type\":\"uint256\"}],\"Mail\":[{\"name\":\"to\",\"type\":\"address\"},"
	    "{\"name\":\"contents\",\"type\":\"string\"},{\"name\":\"amounts\",\"type\":\"uint256[]\"},"
	    "{\"name\":\"tag\",\"type\":\"bytes32\"}]},\"primaryType\":\"Mail\","
	    "\"domain\":{\"name\":\"Load Mail\",\"chainId\":%lu},\"message\":{\"to\":\"%s\","
	    "\"contents\":\"message %016" PRIx64 "\",\"amounts\":[\"%" PRIu64 "\",\"0x%" PRIx64 "\"],"
	    "\"tag\":\"", o->addr, o->chainid, lc_to, contents, a0, a1);
	sb_hex_bytes(&b, r, 32);
	sb_adds(&b, "\"}}]");
	p = json_from(&b);
	sb_free(&b);
	return p;
}

/* One item of the mix, id borrowed. */
static void
gen_item(const struct lc_opts *o, struct lc_rng *r, json_t *id, uint64_t nonce,
    struct lc_item *it)
{
	unsigned long pick = rng_below(r, 100);
	struct sbuf b = { 0 };

	memset(it, 0, sizeof(*it));
	it->txtype = -1;
	if (pick < 10) {
		it->kind = "list";
		it->req = make_request(id, "account_list", json_array());
	} else if (pick < 50) {
		it->kind = "tx";
		it->txtype = (int)rng_below(r, 5);
		it->req = make_request(id, "account_signTransaction",
		    tx_params(o, r, it->txtype, nonce, o->addr, lc_to, NULL));
	} else if (pick < 65) {
		size_t i, n = 1 + rng_below(r, 64);

		/* printable text; with --binary-text half are any bytes (a 32-byte hash, say) */
		if (o->binary_text && rng_below(r, 2)) {
			it->kind = "personal_bytes";
			sb_hex_bytes(&b, r, rng_below(r, 2) ? 32 : n);
		} else {
			it->kind = "personal";
			sb_adds(&b, "0x");
			for (i = 0; i < n; i++)
				sb_addf(&b, "%02x", (unsigned)(0x20 + rng_below(r, 0x5f)));
		}
		it->req = make_request(id, "account_signData",
		    json_pack("[s,s,s]", "text/plain", o->addr, b.p));
	} else if (pick < 80) {
		it->kind = "typed";
		it->req = make_request(id, "account_signTypedData", typed_params(o, r));
	} else {
		it->kind = "invalid";
		switch (rng_below(r, 5)) {
		case 0:
			it->expect = "^the method account_nope does not exist/is not available$";
			it->req = make_request(id, "account_nope", json_array());
			break;
		case 1:
			it->expect = "^requested chainid 1 does not match the configuration of the signer$";
			it->req = make_request(id, "account_signTransaction",
			    tx_params(o, r, 2, nonce, o->addr, lc_to, "0x1"));
			break;
		case 2:
			it->expect = "^unknown account$";
			it->req = make_request(id, "account_signTransaction",
			    tx_params(o, r, 0, nonce, lc_to, lc_to, NULL));
			break;
		case 3:
			it->expect = "Invalid checksum on recipient address";
			it->req = make_request(id, "account_signTransaction",
			    tx_params(o, r, 0, nonce, o->addr, lc_to_lower, NULL));
			break;
		default:
			it->expect = "^invalid argument 2: hex string has an odd number of digits$";
			it->req = make_request(id, "account_signData",
			    json_pack("[s,s,s]", "text/plain", o->addr, "0x123"));
			break;
		}
	}
	sb_free(&b);
	if (it->req == NULL) {
		fprintf(stderr, "loadclient: cannot build a request\n");
		abort();
	}
}

static void
write_record(struct lc_client *c, unsigned long seq, int64_t t0, int64_t t1,
    const struct lc_item *it)
{
	json_t *rec;
	char *line;

	rec = json_pack("{s:I, s:I, s:I, s:I, s:s, s:i, s:s?, s:O, s:O?, s:s?}",
	    "client", (json_int_t)c->index, "seq", (json_int_t)seq,
	    "t0", (json_int_t)t0, "t1", (json_int_t)t1, "kind", it->kind,
	    "txtype", it->txtype, "expect", it->expect, "req", it->req,
	    "resp", it->resp, "problem", it->problem[0] ? it->problem : NULL);
	if (rec == NULL || (line = json_dumps(rec, JSON_COMPACT)) == NULL) {
		fprintf(stderr, "loadclient: cannot write a record\n");
		abort();
	}
	pthread_mutex_lock(&c->rec->lock);
	fputs(line, c->rec->f);
	fputc('\n', c->rec->f);
	pthread_mutex_unlock(&c->rec->lock);
	free(line);
	json_decref(rec);
}

/* A single answer: an object with jsonrpc 2.0, an id, and one of result and error. */
static const char *
answer_shape(const json_t *a)
{
	const json_t *e;

	if (!json_is_object(a))
		return "an answer that is not a JSON object";
	if (!json_is_string(json_object_get(a, "jsonrpc")) ||
	    strcmp(json_string_value(json_object_get(a, "jsonrpc")), "2.0") != 0)
		return "an answer without \"jsonrpc\":\"2.0\"";
	if (json_object_get(a, "id") == NULL)
		return "an answer without an id";
	e = json_object_get(a, "error");
	if ((e != NULL) == (json_object_get(a, "result") != NULL))
		return "an answer with both or neither of result and error";
	if (e != NULL && (!json_is_integer(json_object_get(e, "code")) ||
	    !json_is_string(json_object_get(e, "message"))))
		return "an error without an integer code and a string message";
	return NULL;
}

/* Match the answers to the items; sets each item's resp or problem. */
static void
match_answers(struct lc_item *items, size_t n, int batch, json_t *answer)
{
	const char *why;
	size_t i, k;

	if (!batch) {
		if ((why = answer_shape(answer)) != NULL)
			snprintf(items[0].problem, sizeof(items[0].problem), "%s", why);
		else if (!json_equal(json_object_get(answer, "id"), json_object_get(items[0].req, "id")))
			snprintf(items[0].problem, sizeof(items[0].problem),
			    "crossed answer: it carries another request's id");
		else
			items[0].resp = answer;
		return;
	}
	if (!json_is_array(answer)) {
		for (i = 0; i < n; i++)
			snprintf(items[i].problem, sizeof(items[i].problem),
			    "a batch answered by something that is not an array");
		return;
	}
	for (k = 0; k < json_array_size(answer); k++) {
		json_t *a = json_array_get(answer, k);
		int found = 0;

		why = answer_shape(a);
		for (i = 0; i < n; i++) {
			if (why != NULL || !json_equal(json_object_get(a, "id"),
			    json_object_get(items[i].req, "id")))
				continue;
			found = 1;
			if (items[i].resp != NULL)
				snprintf(items[i].problem, sizeof(items[i].problem),
				    "two answers with this id in the batch");
			items[i].resp = a;
		}
		if (!found)
			for (i = 0; i < n; i++)
				if (items[i].problem[0] == '\0')
					snprintf(items[i].problem, sizeof(items[i].problem),
					    "the batch answer has an element for no request: %s",
					    why != NULL ? why : "unknown id");
	}
	for (i = 0; i < n; i++)
		if (items[i].resp == NULL && items[i].problem[0] == '\0')
			snprintf(items[i].problem, sizeof(items[i].problem),
			    "no answer with this id in the batch");
	if (json_array_size(answer) != n)
		for (i = 0; i < n; i++)
			if (items[i].problem[0] == '\0')
				snprintf(items[i].problem, sizeof(items[i].problem),
				    "the batch of %zu got %zu answers", n, json_array_size(answer));
}

static int
stop_requested(const struct lc_opts *o)
{
	struct stat st;

	return o->stop_file != NULL && stat(o->stop_file, &st) == 0;
}

/* Set when the clients are done: the slow connections then finish. */
static pthread_mutex_t slow_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slow_cond = PTHREAD_COND_INITIALIZER;
static int clients_done;
static unsigned slow_started;

static void *
mixed_client(void *arg)
{
	struct lc_client *c = arg;
	const struct lc_opts *o = c->o;
	struct lc_answer a = { { 0 }, 0 };
	struct lc_item items[LC_BATCH_MAX_MIXED];
	struct lc_http h;
	struct lc_rng r;
	unsigned long seq;

	rng_seed(&r, o->seed, c->index + 1);
	if (http_init(&h, o) != 0) {
		note_problem(&c->st, "cannot set up libcurl");
		return NULL;
	}
	for (seq = 0; seq < o->requests && !stop_requested(o); seq++) {
		size_t n = 1, i;
		int batch = rng_below(&r, 100) < 5;
		json_t *body, *answer = NULL;
		json_error_t jerr;
		int64_t t0, t1;
		long status;
		char *text;
		int rc;

		if (batch)
			n = 2 + rng_below(&r, LC_BATCH_MAX_MIXED - 1);
		body = batch ? json_array() : NULL;
		for (i = 0; i < n; i++) {
			json_t *id;

			/* unique in the run: numbers mostly, strings now and then */
			if (seq % 3 == 2)
				id = json_sprintf("c%u-%lu-%zu", c->index, seq, i);
			else
				id = json_integer((json_int_t)((c->index + 1) * 100000000ull +
				    seq * 10 + i));
			gen_item(o, &r, id, seq * 10 + i, &items[i]);
			json_decref(id);
			if (batch)
				json_array_append(body, items[i].req);
		}
		if ((text = json_dumps(batch ? body : items[0].req, JSON_COMPACT)) == NULL)
			abort();
		t0 = now_ms();
		rc = http_post(&h, LC_SEND_PLAIN, text, strlen(text), &a, &status);
		t1 = now_ms();
		c->st.posts++;
		c->st.items += n;
		if (rc != 0) {
			for (i = 0; i < n; i++)
				snprintf(items[i].problem, sizeof(items[i].problem),
				    "no answer: %.150s", h.errbuf);
		} else if (status != 200) {
			for (i = 0; i < n; i++)
				snprintf(items[i].problem, sizeof(items[i].problem),
				    "HTTP status %ld: %.100s", status, a.body.p ? a.body.p : "");
		} else if ((answer = json_loadb(a.body.p ? a.body.p : "", a.body.len, 0, &jerr)) == NULL) {
			for (i = 0; i < n; i++)
				snprintf(items[i].problem, sizeof(items[i].problem),
				    "the answer is not JSON: %.100s", a.body.p ? a.body.p : "(empty)");
		} else
			match_answers(items, n, batch, answer);
		for (i = 0; i < n; i++) {
			if (items[i].problem[0] != '\0')
				note_problem(&c->st, "client %u request %lu: %s", c->index, seq,
				    items[i].problem);
			else {
				c->st.answered++;
				if (json_object_get(items[i].resp, "result") != NULL)
					c->st.results++;
				else
					c->st.errors++;
			}
			write_record(c, seq, t0, t1, &items[i]);
			json_decref(items[i].req);
		}
		json_decref(answer);
		json_decref(body);
		free(text);
		if (o->pace_ms > 0)
			sleep_ms(o->pace_ms);
	}
	c->st.connections = h.connections;
	http_free(&h);
	sb_free(&a.body);
	return NULL;
}

/* One slow connection: a request trickled a byte at a time. */
struct lc_slow {
	pthread_t thread;
	const struct lc_opts *o;
	unsigned index;
	struct lc_records *rec;
	size_t sent, total;
	size_t sent_when_clients_done;
	int incomplete_when_clients_done;
	struct lc_stats st;
};

static int
send_all(int fd, const char *p, size_t len)
{
	ssize_t got;

	while (len > 0) {
		got = send(fd, p, len, MSG_NOSIGNAL);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		p += got;
		len -= (size_t)got;
	}
	return 0;
}

/* Read one HTTP/1.1 response with a Content-Length; its body into body. */
static int
read_http_response(int fd, long *statusp, struct sbuf *body, char *why, size_t whylen)
{
	struct sbuf in = { 0 };
	char chunk[4096], *end, *cl;
	size_t hlen, want;
	ssize_t got;
	int r = -1;

	for (;;) {
		got = recv(fd, chunk, sizeof(chunk), 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			snprintf(why, whylen, "the connection %s before a whole answer came",
			    got == 0 ? "closed" : "failed");
			goto out;
		}
		sb_add(&in, chunk, (size_t)got);
		if ((end = strstr(in.p, "\r\n\r\n")) == NULL)
			continue;
		hlen = (size_t)(end - in.p) + 4;
		if (sscanf(in.p, "HTTP/1.%*d %ld", statusp) != 1) {
			snprintf(why, whylen, "not an HTTP status line: %.60s", in.p);
			goto out;
		}
		if ((cl = strcasestr(in.p, "\r\nContent-Length:")) == NULL || cl > end) {
			snprintf(why, whylen, "an answer without Content-Length");
			goto out;
		}
		want = strtoul(cl + 17, NULL, 10);
		if (in.len - hlen < want)
			continue;
		sb_add(body, in.p + hlen, want);
		r = 0;
		goto out;
	}
 out:
	sb_free(&in);
	return r;
}

static void *
slow_client(void *arg)
{
	struct lc_slow *s = arg;
	const struct lc_opts *o = s->o;
	struct sockaddr_in sa;
	struct sbuf body = { 0 }, req = { 0 }, answer = { 0 };
	struct timeval tv = { LC_SLOW_WAIT_S, 0 };
	struct lc_client rc = { 0 };
	struct lc_item it;
	json_error_t jerr;
	json_t *parsed = NULL;
	int64_t t0, t1;
	long status = 0;
	int fd = -1, one = 1, counted = 0;

	memset(&it, 0, sizeof(it));
	it.kind = "list";
	it.txtype = -1;
	it.req = json_pack("{s:s, s:o, s:s, s:[]}", "jsonrpc", "2.0", "id",
	    json_sprintf("slow-%u", s->index), "method", "account_list", "params");
	{
		char *t = json_dumps(it.req, JSON_COMPACT);

		sb_adds(&body, t);
		free(t);
	}
	sb_addc(&body, ' ', LC_SLOW_PAD);
	sb_addf(&req, "POST / HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n", o->host, o->port, body.len);
	sb_add(&req, body.p, body.len);
	s->total = req.len;
	t0 = now_ms();

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)o->port);
	if (inet_pton(AF_INET, o->host, &sa.sin_addr) != 1 ||
	    (fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(it.problem, sizeof(it.problem), "cannot connect: %s", strerror(errno));
		goto done;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* Connection k starts 15k bytes in; then one byte per tick until the
	 * clients are done, the last byte waiting for that. */
	s->sent = 15 * (size_t)s->index < s->total - 1 ? 15 * (size_t)s->index : s->total - 1;
	if (send_all(fd, req.p, s->sent) != 0) {
		snprintf(it.problem, sizeof(it.problem), "the server closed the slow connection");
		goto done;
	}
	for (;;) {
		int done;

		pthread_mutex_lock(&slow_lock);
		done = clients_done;
		if (!done && s->sent == s->total - 1) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += LC_SLOW_WAIT_S;
			while (!clients_done &&
			    pthread_cond_timedwait(&slow_cond, &slow_lock, &until) == 0)
				;
			done = 1;
		}
		pthread_mutex_unlock(&slow_lock);
		if (done)
			break;
		if (send_all(fd, req.p + s->sent, 1) != 0) {
			snprintf(it.problem, sizeof(it.problem),
			    "the server closed the slow connection after %zu of %zu bytes", s->sent,
			    s->total);
			goto done;
		}
		s->sent++;
		if (!counted) {
			pthread_mutex_lock(&slow_lock);
			slow_started++;
			counted = 1;
			pthread_cond_broadcast(&slow_cond);
			pthread_mutex_unlock(&slow_lock);
		}
		sleep_ms(o->slow_byte_ms);
	}
	if (send_all(fd, req.p + s->sent, s->total - s->sent) != 0) {
		snprintf(it.problem, sizeof(it.problem),
		    "the server closed the slow connection after %zu of %zu bytes", s->sent, s->total);
		goto done;
	}
	s->sent = s->total;
	if (read_http_response(fd, &status, &answer, it.problem, sizeof(it.problem)) != 0)
		goto done;
	if (status != 200)
		snprintf(it.problem, sizeof(it.problem), "HTTP status %ld", status);
	else if ((parsed = json_loadb(answer.p ? answer.p : "", answer.len, 0, &jerr)) == NULL)
		snprintf(it.problem, sizeof(it.problem), "the answer is not JSON: %.100s",
		    answer.p ? answer.p : "");
	else
		match_answers(&it, 1, 0, parsed);
 done:
	if (!counted) {
		/* never got going: let the clients start anyway */
		pthread_mutex_lock(&slow_lock);
		slow_started++;
		pthread_cond_broadcast(&slow_cond);
		pthread_mutex_unlock(&slow_lock);
	}
	t1 = now_ms();
	if (fd >= 0)
		close(fd);
	if (it.problem[0] != '\0')
		note_problem(&s->st, "slow connection %u: %s", s->index, it.problem);
	else
		s->st.answered++;
	rc.index = 1000 + s->index;
	rc.rec = s->rec;
	write_record(&rc, 0, t0, t1, &it);
	json_decref(it.req);
	json_decref(parsed);
	sb_free(&body);
	sb_free(&req);
	sb_free(&answer);
	return NULL;
}

static void
merge_stats(struct lc_stats *all, const struct lc_stats *one)
{
	unsigned i;

	all->posts += one->posts;
	all->items += one->items;
	all->answered += one->answered;
	all->results += one->results;
	all->errors += one->errors;
	all->connections += one->connections;
	for (i = 0; i < one->nshown && all->nshown < LC_SHOWN_PROBLEMS; i++)
		memcpy(all->first_problem[all->nshown++], one->first_problem[i],
		    sizeof(all->first_problem[0]));
	all->problems += one->problems;
}

static int
run_mixed(const struct lc_opts *o)
{
	static struct lc_client clients[LC_MAX_CLIENTS];
	static struct lc_slow slow[LC_MAX_SLOW];
	struct lc_records rec;
	struct lc_stats all;
	size_t min_sent = (size_t)-1, max_sent = 0;
	unsigned i, incomplete = 0;
	unsigned long slow_answered = 0;
	int64_t t0, t1;

	memset(&all, 0, sizeof(all));
	pthread_mutex_init(&rec.lock, NULL);
	if ((rec.f = fopen(o->records, "we")) == NULL) {
		fprintf(stderr, "loadclient: %s: %s\n", o->records, strerror(errno));
		return 1;
	}
	for (i = 0; i < o->slow; i++) {
		slow[i].o = o;
		slow[i].index = i;
		slow[i].rec = &rec;
		if (pthread_create(&slow[i].thread, NULL, slow_client, &slow[i]) != 0) {
			fprintf(stderr, "loadclient: cannot start a slow connection\n");
			return 1;
		}
	}
	/* Every slow connection is open and part-way through its request. */
	pthread_mutex_lock(&slow_lock);
	while (slow_started < o->slow)
		pthread_cond_wait(&slow_cond, &slow_lock);
	pthread_mutex_unlock(&slow_lock);

	t0 = now_ms();
	for (i = 0; i < o->clients; i++) {
		clients[i].o = o;
		clients[i].index = i;
		clients[i].rec = &rec;
		if (pthread_create(&clients[i].thread, NULL, mixed_client, &clients[i]) != 0) {
			fprintf(stderr, "loadclient: cannot start client %u\n", i);
			return 1;
		}
	}
	for (i = 0; i < o->clients; i++) {
		pthread_join(clients[i].thread, NULL);
		merge_stats(&all, &clients[i].st);
	}
	t1 = now_ms();
	pthread_mutex_lock(&slow_lock);
	clients_done = 1;
	for (i = 0; i < o->slow; i++) {
		slow[i].sent_when_clients_done = slow[i].sent;
		slow[i].incomplete_when_clients_done = slow[i].sent < slow[i].total;
	}
	pthread_cond_broadcast(&slow_cond);
	pthread_mutex_unlock(&slow_lock);
	for (i = 0; i < o->slow; i++) {
		pthread_join(slow[i].thread, NULL);
		merge_stats(&all, &slow[i].st);
		slow_answered += slow[i].st.answered;
		incomplete += (unsigned)slow[i].incomplete_when_clients_done;
		if (slow[i].sent_when_clients_done < min_sent)
			min_sent = slow[i].sent_when_clients_done;
		if (slow[i].sent_when_clients_done > max_sent)
			max_sent = slow[i].sent_when_clients_done;
	}
	fclose(rec.f);
	printf("mixed clients=%u posts=%lu items=%lu answered=%lu results=%lu errors=%lu "
	    "problems=%lu connections=%lu seconds=%.1f", o->clients, all.posts, all.items,
	    all.answered, all.results, all.errors, all.problems, all.connections,
	    (double)(t1 - t0) / 1000.0);
	if (o->slow > 0)
		printf(" slow=%u slow_answered=%lu slow_incomplete_when_clients_done=%u "
		    "slow_bytes_sent_then=%zu..%zu/%zu", o->slow, slow_answered, incomplete,
		    min_sent, max_sent, slow[0].total);
	printf("\n");
	for (i = 0; i < all.nshown; i++)
		fprintf(stderr, "loadclient: %s\n", all.first_problem[i]);
	return all.problems == 0 ? 0 : 1;
}

/* ---- malformed requests ---- */

enum lc_expect {
	LC_EXPECT_ERROR,	/* one JSON-RPC error object */
	LC_EXPECT_BATCH,	/* an array of batch_n error objects */
	LC_EXPECT_413,
};

struct lc_bad {
	const char *category;
	struct sbuf body;
	enum lc_expect expect;
	size_t batch_n;
	int want_id;		/* the error must carry id want_id_value */
	long long want_id_value;
	enum lc_send how;
};

/* A request to a method that does not exist, as text: the base for broken JSON. */
static void
text_unknown_method(struct sbuf *b, long long id)
{
	sb_addf(b, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"nope_method\",\"params\":"
	    "[\"text/plain\",\"0x1234\",{\"a\":[1,2,3]}]}", id);
}

static void
gen_bad_json(struct lc_rng *r, long long id, struct lc_bad *m)
{
	struct sbuf base = { 0 };
	size_t i, n;

	m->category = "bad_json";
	text_unknown_method(&base, id);
	switch (rng_below(r, 6)) {
	case 0:		/* cut short */
		sb_add(&m->body, base.p, rng_below(r, base.len));
		break;
	case 1:		/* a structural character replaced */
		sb_add(&m->body, base.p, base.len);
		for (;;) {
			i = rng_below(r, base.len);
			if (strchr("{}[]:\",", base.p[i]) != NULL)
				break;
		}
		m->body.p[i] = "#'=;)(@"[rng_below(r, 7)];
		break;
	case 2:		/* random bytes */
		n = 1 + rng_below(r, 300);
		for (i = 0; i < n; i++)
			sb_addc(&m->body, (char)(rng_next(r) & 0xff), 1);
		break;
	case 3:		/* garbage after the value, or a number beyond a double */
		if (rng_below(r, 3) == 0) {
			sb_addf(&m->body, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"account_list\","
			    "\"params\":[1e400]}", id);
			break;
		}
		sb_add(&m->body, base.p, base.len);
		sb_adds(&m->body, rng_below(r, 2) ? " x" : "}");
		break;
	case 4:		/* invalid UTF-8 in a string */
		sb_addf(&m->body, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"account_\xff\xfe"
		    "list\",\"params\":[]}", id);
		break;
	default:	/* a duplicate key (refused: JSON_REJECT_DUPLICATES) */
		sb_addf(&m->body, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"account_list\","
		    "\"method\":\"account_version\",\"params\":[]}", id);
		break;
	}
	sb_free(&base);
	m->expect = LC_EXPECT_ERROR;
}

/* Append one flat bad request object (it gets exactly one error answer). */
static const char *
gen_flat(struct lc_rng *r, const struct lc_opts *o, long long id, struct sbuf *b,
    int *want_id)
{
	static const char *const bad_hex_data[] = {
		"0x1", "0xzz", "1234", "0xg0", "0x12 ", "0x 12", "0x-1", "x12", "0x123",
		"0x12\\n", "0x\\u00e912",
	};
	static const char *const bad_addr[] = {
		"0x1234", "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA9604", "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA960451",
		"d8dA6BF26964aF9D7eEd9e03E53415D37aA96045", "0xz8dA6BF26964aF9D7eEd9e03E53415D37aA96045",
		"0x", "", "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA9604 ",
	};
	static const char *const bad_quantity[] = {
		"\"0x10000000000000000000000000000000000000000000000000000000000000000\"",
		"\"0x0001\"", "\"0x\"", "\"-0x1\"", "\"123\"", "\"0xzz\"", "\" 0x1\"", "1",
		"null", "[]", "{}", "true", "\"0x1.5\"",
		"\"0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\"",
	};
	static const char *const u64_fields[] = { "nonce", "gas" };
	static const char *const wrong_chain[] = {
		"0x1", "0x0", "0x538", "0x53a", "0xffffffffffffffff", "0x10000000000000539",
		"0x539000000000000000000000000000000000000000000000000000000000000",
	};
	static const char *const unknown_methods[] = {
		"Account_list", "account_list ", " account_list", "account.list", "eth_sign",
		"eth_accounts", "personal_sign", "rpc_modulesx", "account_signtransaction",
		"ACCOUNT_VERSION", "account_\\u0441ign", "clef_list", "account_",
	};
	const char *cat;
	unsigned long v;
	size_t i, n;

	*want_id = 1;
	sb_addf(b, "{\"jsonrpc\":\"2.0\",\"id\":%lld,", id);
	switch (rng_below(r, 6)) {
	case 0:
		cat = "unknown_method";
		v = rng_below(r, 4);
		if (v == 0)
			sb_addf(b, "\"method\":\"%s\"", unknown_methods[rng_below(r,
			    sizeof(unknown_methods) / sizeof(unknown_methods[0]))]);
		else if (v == 1) {
			sb_adds(b, "\"method\":\"account_zz");
			n = 1 + rng_below(r, 3000);
			for (i = 0; i < n; i++)
				sb_addc(b, "abcdefghijklmnopqrstuvwxyz_0123456789"[rng_below(r, 37)], 1);
			sb_adds(b, "\"");
		} else
			sb_addf(b, "\"method\":\"nope_%016" PRIx64 "\"", rng_next(r));
		sb_adds(b, ",\"params\":[]}");
		break;
	case 1:
		cat = "bad_hex";
		v = rng_below(r, 4);
		if (v == 0)
			sb_addf(b, "\"method\":\"account_signData\",\"params\":[\"text/plain\",\"%s\","
			    "\"%s\"]}", o->addr, bad_hex_data[rng_below(r,
			    sizeof(bad_hex_data) / sizeof(bad_hex_data[0]))]);
		else if (v == 1)
			sb_addf(b, "\"method\":\"account_signData\",\"params\":[\"text/plain\",\"%s\","
			    "\"0x1234\"]}", bad_addr[rng_below(r, sizeof(bad_addr) / sizeof(bad_addr[0]))]);
		else if (v == 2)
			sb_addf(b, "\"method\":\"account_signTransaction\",\"params\":[{\"from\":\"%s\","
			    "\"to\":\"%s\",\"gas\":\"0x5208\",\"gasPrice\":\"0x1\",\"value\":\"0x0\","
			    "\"nonce\":\"0x1\",\"data\":\"%s\"}]}", o->addr, lc_to,
			    bad_hex_data[rng_below(r, sizeof(bad_hex_data) / sizeof(bad_hex_data[0]))]);
		else
			sb_addf(b, "\"method\":\"account_signTransaction\",\"params\":[{\"from\":\"%s\","
			    "\"to\":\"%s\",\"gas\":\"0x5208\",\"gasPrice\":\"0x1\",\"value\":\"0x0\","
			    "\"nonce\":\"0x1\"}]}", o->addr, bad_addr[rng_below(r,
			    sizeof(bad_addr) / sizeof(bad_addr[0]))]);
		break;
	case 2:
		cat = "big_quantity";
		v = rng_below(r, 3);
		if (v == 0)	/* a 256-bit field */
			sb_addf(b, "\"method\":\"account_signTransaction\",\"params\":[{\"from\":\"%s\","
			    "\"to\":\"%s\",\"gas\":\"0x5208\",\"gasPrice\":\"0x1\",\"value\":%s,"
			    "\"nonce\":\"0x1\"}]}", o->addr, lc_to, bad_quantity[rng_below(r,
			    sizeof(bad_quantity) / sizeof(bad_quantity[0]))]);
		else if (v == 1) {	/* a 64-bit field over 64 bits */
			unsigned long f = rng_below(r, 2);
			uint64_t low = rng_next(r);

			sb_addf(b, "\"method\":\"account_signTransaction\",\"params\":[{\"from\":\"%s\","
			    "\"to\":\"%s\",\"gasPrice\":\"0x1\",\"value\":\"0x0\",\"%s\":\"0x1%016" PRIx64
			    "\",\"%s\":\"0x5208\"}]}", o->addr, lc_to, u64_fields[f], low,
			    u64_fields[1 - f]);
		}
		else
			sb_addf(b, "\"method\":\"account_signTransaction\",\"params\":[{\"from\":\"%s\","
			    "\"to\":\"%s\",\"gas\":\"0x5208\",\"maxFeePerGas\":%s,"
			    "\"maxPriorityFeePerGas\":\"0x1\",\"value\":\"0x0\",\"nonce\":\"0x1\"}]}",
			    o->addr, lc_to, bad_quantity[rng_below(r,
			    sizeof(bad_quantity) / sizeof(bad_quantity[0]))]);
		break;
	case 3:
		cat = "wrong_chain_id";
		sb_addf(b, "\"method\":\"account_signTransaction\",\"params\":[{\"from\":\"%s\","
		    "\"to\":\"%s\",\"gas\":\"0x5208\",%s\"value\":\"0x0\",\"nonce\":\"0x1\","
		    "\"chainId\":\"%s\"}]}", o->addr, lc_to,
		    rng_below(r, 2) ? "\"gasPrice\":\"0x1\"," :
		    "\"maxFeePerGas\":\"0x2\",\"maxPriorityFeePerGas\":\"0x1\",",
		    wrong_chain[rng_below(r, sizeof(wrong_chain) / sizeof(wrong_chain[0]))]);
		break;
	case 4:
		cat = "wrong_types";
		/* the id stays valid: the error must carry it */
		switch (rng_below(r, 7)) {
		case 0: sb_adds(b, "\"method\":\"account_list\",\"params\":{}}"); break;
		case 1: sb_adds(b, "\"method\":\"account_list\",\"params\":\"x\"}"); break;
		case 2: sb_adds(b, "\"method\":\"account_list\",\"params\":5}"); break;
		case 3: sb_adds(b, "\"method\":5,\"params\":[]}"); break;
		case 4: sb_adds(b, "\"method\":null}"); break;
		case 5: sb_adds(b, "\"method\":\"\"}"); break;
		default: sb_adds(b, "\"method\":[\"account_list\"]}"); break;
		}
		break;
	default:
		cat = "bad_params";
		switch (rng_below(r, 12)) {
		case 0:
			sb_addf(b, "\"method\":\"account_signData\",\"params\":[\"text/plain\",\"%s\"]}",
			    o->addr);
			break;
		case 1:
			sb_addf(b, "\"method\":\"account_signData\",\"params\":[\"text/plain\",\"%s\","
			    "\"0x12\",5]}", o->addr);
			break;
		case 2:
			sb_adds(b, "\"method\":\"account_version\",\"params\":[");
			for (i = 0; i <= LIMIT_JSON_PARAMS; i++)
				sb_addf(b, "%s%zu", i ? "," : "", i);
			sb_adds(b, "]}");
			break;
		case 3:
			sb_adds(b, "\"method\":\"account_list\",\"params\":[1]}");
			break;
		case 4:
			sb_addf(b, "\"method\":\"account_signTypedData\",\"params\":[\"%s\",{\"types\":"
			    "{\"EIP712Domain\":[],\"A\":[{\"name\":\"b\",\"type\":\"A\"}]},\"primaryType\":"
			    "\"A\",\"domain\":{},\"message\":{\"b\":{}}}]}", o->addr);
			break;
		case 5:
			sb_addf(b, "\"method\":\"account_signTypedData\",\"params\":[\"%s\",{\"types\":"
			    "{\"EIP712Domain\":[]},\"primaryType\":\"Mail\",\"domain\":{},\"message\":{}}]}",
			    o->addr);
			break;
		case 6:
			sb_addf(b, "\"method\":\"account_signTypedData\",\"params\":[\"%s\",\"0x12\"]}",
			    o->addr);
			break;
		case 7:
			sb_addf(b, "\"method\":\"account_signTransaction\",\"params\":[{\"from\":\"%s\","
			    "\"to\":\"%s\",\"gas\":\"0x5208\",\"gasPrice\":\"0x1\",\"value\":\"0x0\","
			    "\"nonce\":\"0x1\",\"foo\":1}]}", o->addr, lc_to);
			break;
		case 8:
			sb_addf(b, "\"method\":\"account_signTransaction\",\"params\":[{\"from\":\"%s\","
			    "\"to\":\"%s\",\"gas\":\"0x5208\",\"gasPrice\":\"0x1\",\"value\":\"0x0\"}]}",
			    o->addr, lc_to);
			break;
		case 9:
			sb_addf(b, "\"method\":\"account_signTransaction\",\"params\":[{\"from\":\"%s\","
			    "\"to\":\"%s\",\"gas\":\"0x5208\",\"gasPrice\":\"0x1\",\"maxFeePerGas\":\"0x1\","
			    "\"value\":\"0x0\",\"nonce\":\"0x1\"}]}", o->addr, lc_to);
			break;
		case 10:
			sb_adds(b, "\"method\":\"account_signTransaction\",\"params\":[]}");
			break;
		default:
			sb_adds(b, "\"method\":\"account_ecRecover\",\"params\":[\"0x12\",\"0x34\"]}");
			break;
		}
		break;
	}
	return cat;
}

/* Structurally invalid requests whose error carries a null id. */
static void
gen_null_id(struct lc_rng *r, struct sbuf *b)
{
	switch (rng_below(r, 9)) {
	case 0: sb_adds(b, "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"account_list\"}"); break;
	case 1: sb_adds(b, "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"account_list\"}"); break;
	case 2: sb_adds(b, "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"account_list\"}"); break;
	case 3: sb_adds(b, "{\"jsonrpc\":2,\"method\":\"account_list\"}"); break;
	case 4: sb_adds(b, "{\"jsonrpc\":\"1.0\",\"method\":\"account_list\"}"); break;
	case 5: sb_adds(b, "{\"method\":\"account_list\",\"params\":[]}"); break;
	case 6: sb_adds(b, "\"account_list\""); break;
	case 7: sb_adds(b, rng_below(r, 2) ? "null" : "42"); break;
	default: sb_adds(b, "{\"jsonrpc\":\"2.0\"}"); break;
	}
}

static void
gen_deep(struct lc_rng *r, long long id, struct lc_bad *m)
{
	unsigned long depth, i;
	unsigned long v = rng_below(r, 4);

	m->category = "deep_nesting";
	/* around the limit, and far beyond it */
	depth = rng_below(r, 2) ? LIMIT_JSON_DEPTH - 4 + rng_below(r, 10) : 1 + rng_below(r, 100000);
	sb_addf(&m->body, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"account_version\",\"params\":[", id);
	for (i = 0; i < depth; i++)
		sb_adds(&m->body, v == 1 ? "{\"a\":" : "[");
	if (v == 1)
		sb_adds(&m->body, "1");
	if (v != 3)	/* 3: never closed */
		for (i = 0; i < depth; i++)
			sb_adds(&m->body, v == 1 ? "}" : "]");
	sb_adds(&m->body, "]}");
	m->expect = LC_EXPECT_ERROR;
	/* within the limit the request parses, and account_version takes no arguments */
	m->want_id = depth + 2 <= LIMIT_JSON_DEPTH && v != 3;
	m->want_id_value = id;
}

static void
gen_batch(struct lc_rng *r, const struct lc_opts *o, long long id, struct lc_bad *m)
{
	unsigned long n, i, v = rng_below(r, 20);
	int want;

	m->category = "batch";
	if (v == 0) {		/* empty */
		sb_adds(&m->body, rng_below(r, 2) ? "[]" : " [ ] ");
		m->expect = LC_EXPECT_ERROR;
		return;
	}
	if (v == 1) {		/* over the batch limit */
		n = LIMIT_JSON_BATCH + 1 + rng_below(r, 50);
		sb_adds(&m->body, "[");
		for (i = 0; i < n; i++)
			sb_addf(&m->body, "%s{\"jsonrpc\":\"2.0\",\"id\":%lu,\"method\":\"account_list\"}",
			    i ? "," : "", i);
		sb_adds(&m->body, "]");
		m->expect = LC_EXPECT_ERROR;
		return;
	}
	n = 1 + rng_below(r, LIMIT_JSON_BATCH);
	sb_adds(&m->body, "[");
	for (i = 0; i < n; i++) {
		if (i)
			sb_adds(&m->body, ",");
		if (rng_below(r, 4) == 0)
			gen_null_id(r, &m->body);
		else
			gen_flat(r, o, id * 1000 + (long long)i, &m->body, &want);
	}
	sb_adds(&m->body, "]");
	m->expect = LC_EXPECT_BATCH;
	m->batch_n = n;
}

/* Every 500th: a body at, just under and over the limit. */
static void
gen_huge(unsigned long k, const struct lc_opts *o, long long id, struct lc_bad *m)
{
	static const size_t limit = LIMIT_JSON_BODY;
	char head[256];
	size_t target = 0, hl;

	m->expect = LC_EXPECT_ERROR;
	m->how = LC_SEND_PLAIN;
	switch (k % 6) {
	case 0:	m->category = "huge_at_limit"; target = limit; break;
	case 1:	m->category = "huge_over_limit"; target = limit + 1;
		m->how = LC_SEND_EXPECT100; m->expect = LC_EXPECT_413; break;
	case 2:	m->category = "huge_over_limit_chunked"; target = limit + 1;
		m->how = LC_SEND_CHUNKED; m->expect = LC_EXPECT_413; break;
	case 3:	m->category = "huge_under_limit_chunked"; target = limit - 1;
		m->how = LC_SEND_CHUNKED; break;
	case 4:	m->category = "huge_far_over_limit"; target = 3 * limit;
		m->how = LC_SEND_EXPECT100; m->expect = LC_EXPECT_413; break;
	default: m->category = "huge_string_id"; break;
	}
	if (k % 6 == 5) {
		/* an id of a quarter of the limit, echoed in the error */
		sb_adds(&m->body, "{\"jsonrpc\":\"2.0\",\"id\":\"");
		sb_addc(&m->body, 'i', limit / 4);
		sb_adds(&m->body, "\",\"method\":\"nope_huge\",\"params\":[]}");
		return;
	}
	/* signData whose data ends in "zz": never signable, and at exactly target bytes */
	snprintf(head, sizeof(head), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"account_signData\","
	    "\"params\":[\"text/plain\",\"%s\",\"0x", id, o->addr);
	hl = strlen(head);
	sb_adds(&m->body, head);
	sb_addc(&m->body, 'a', target - hl - 5);
	sb_adds(&m->body, "zz\"]}");
	m->want_id = m->expect == LC_EXPECT_ERROR;
	m->want_id_value = id;
}

/* Request number i of the malformed run: the same for a seed. */
static void
gen_malformed(const struct lc_opts *o, unsigned long i, struct lc_bad *m)
{
	struct lc_rng r;
	long long id = (long long)i + 1;
	int want = 0;

	rng_seed(&r, o->seed, 0x5eed0000ull + i);
	memset(m, 0, sizeof(*m));
	m->how = LC_SEND_PLAIN;
	m->expect = LC_EXPECT_ERROR;
	if (i % 500 == 499) {
		gen_huge(i / 500, o, id, m);
		return;
	}
	switch (i % 10) {
	case 0:
	case 1:
		gen_bad_json(&r, id, m);
		break;
	case 2:
		gen_deep(&r, id, m);
		break;
	case 3:
		m->category = "null_id";
		gen_null_id(&r, &m->body);
		break;
	case 4:
	case 5:
		gen_batch(&r, o, id, m);
		break;
	default:
		m->category = gen_flat(&r, o, id, &m->body, &want);
		m->want_id = want;
		m->want_id_value = id;
		break;
	}
}

struct lc_category {
	const char *name;
	unsigned long n, ok;
};

struct lc_bad_client {
	pthread_t thread;
	const struct lc_opts *o;
	atomic_ulong *next;
	struct lc_stats st;
	unsigned long n413, nerrors, nbatches;
	struct lc_category cats[32];
	size_t ncats;
};

static const char *
is_error_object(const json_t *a)
{
	const char *why = answer_shape(a);

	if (why != NULL)
		return why;
	if (json_object_get(a, "result") != NULL)
		return "a result for a malformed request";
	return NULL;
}

/* NULL when the answer is the refusal m wants; else what is wrong. */
static const char *
check_refusal(const struct lc_bad *m, long status, const struct sbuf *answer, char *why,
    size_t whylen)
{
	json_error_t jerr;
	json_t *a;
	const char *w = NULL;
	size_t k;

	if (m->expect == LC_EXPECT_413) {
		if (status == 413)
			return NULL;
		snprintf(why, whylen, "HTTP status %ld, want 413", status);
		return why;
	}
	if (status != 200) {
		snprintf(why, whylen, "HTTP status %ld, want 200 with a JSON-RPC error", status);
		return why;
	}
	if ((a = json_loadb(answer->p ? answer->p : "", answer->len, 0, &jerr)) == NULL) {
		snprintf(why, whylen, "an answer that is not JSON");
		return why;
	}
	if (m->expect == LC_EXPECT_BATCH) {
		if (!json_is_array(a))
			w = "a batch answered by something that is not an array";
		else if (json_array_size(a) != m->batch_n) {
			snprintf(why, whylen, "a batch of %zu answered with %zu elements", m->batch_n,
			    json_array_size(a));
			w = why;
		}
		for (k = 0; w == NULL && k < json_array_size(a); k++)
			w = is_error_object(json_array_get(a, k));
	} else {
		w = is_error_object(a);
		if (w == NULL && m->want_id &&
		    (!json_is_integer(json_object_get(a, "id")) ||
		    json_integer_value(json_object_get(a, "id")) != m->want_id_value))
			w = "the error does not carry the request's id";
	}
	json_decref(a);
	return w;
}

static void
count_category(struct lc_bad_client *c, const char *name, int ok)
{
	size_t i;

	for (i = 0; i < c->ncats; i++)
		if (strcmp(c->cats[i].name, name) == 0)
			break;
	if (i == c->ncats) {
		if (c->ncats == sizeof(c->cats) / sizeof(c->cats[0]))
			return;
		c->cats[c->ncats].name = name;
		c->ncats++;
	}
	c->cats[i].n++;
	c->cats[i].ok += (unsigned long)ok;
}

static void *
malformed_client(void *arg)
{
	struct lc_bad_client *c = arg;
	struct lc_answer a = { { 0 }, 0 };
	struct lc_http h;
	unsigned long i;

	if (http_init(&h, c->o) != 0) {
		note_problem(&c->st, "cannot set up libcurl");
		return NULL;
	}
	while ((i = atomic_fetch_add(c->next, 1)) < c->o->requests) {
		struct lc_bad m;
		const char *w;
		char why[200];
		long status;

		gen_malformed(c->o, i, &m);
		c->st.posts++;
		if (http_post(&h, m.how, m.body.p, m.body.len, &a, &status) != 0) {
			snprintf(why, sizeof(why), "no answer: %.150s", h.errbuf);
			w = why;
		} else
			w = check_refusal(&m, status, &a.body, why, sizeof(why));
		count_category(c, m.category, w == NULL);
		if (w != NULL)
			note_problem(&c->st, "request %lu (%s, %zu bytes: %.120s): %s; answer: %.200s",
			    i, m.category, m.body.len, m.body.p, w, a.body.p ? a.body.p : "");
		else if (m.expect == LC_EXPECT_413)
			c->n413++;
		else if (m.expect == LC_EXPECT_BATCH)
			c->nbatches++;
		else
			c->nerrors++;
		sb_free(&m.body);
	}
	c->st.connections = h.connections;
	http_free(&h);
	sb_free(&a.body);
	return NULL;
}

/* --dump: print the requests (cut to 300 bytes) instead of sending them. */
static int
dump_malformed(const struct lc_opts *o)
{
	unsigned long i;

	for (i = 0; i < o->requests; i++) {
		struct lc_bad m;

		gen_malformed(o, i, &m);
		printf("%lu %s expect=%s%s len=%zu: %.300s\n", i, m.category,
		    m.expect == LC_EXPECT_413 ? "413" : m.expect == LC_EXPECT_BATCH ? "batch" : "error",
		    m.want_id ? "+id" : "", m.body.len, m.body.p);
		sb_free(&m.body);
	}
	return 0;
}

static int
run_malformed(const struct lc_opts *o)
{
	static struct lc_bad_client clients[LC_MAX_CLIENTS];
	struct lc_category cats[32];
	size_t ncats = 0, k, j;
	atomic_ulong next = 0;
	struct lc_stats all;
	unsigned long n413 = 0, nerrors = 0, nbatches = 0;
	unsigned i;

	memset(&all, 0, sizeof(all));
	for (i = 0; i < o->clients; i++) {
		clients[i].o = o;
		clients[i].next = &next;
		if (pthread_create(&clients[i].thread, NULL, malformed_client, &clients[i]) != 0) {
			fprintf(stderr, "loadclient: cannot start client %u\n", i);
			return 1;
		}
	}
	for (i = 0; i < o->clients; i++) {
		pthread_join(clients[i].thread, NULL);
		merge_stats(&all, &clients[i].st);
		n413 += clients[i].n413;
		nerrors += clients[i].nerrors;
		nbatches += clients[i].nbatches;
		for (k = 0; k < clients[i].ncats; k++) {
			for (j = 0; j < ncats; j++)
				if (strcmp(cats[j].name, clients[i].cats[k].name) == 0)
					break;
			if (j == ncats) {
				cats[ncats] = clients[i].cats[k];
				ncats++;
			} else {
				cats[j].n += clients[i].cats[k].n;
				cats[j].ok += clients[i].cats[k].ok;
			}
		}
	}
	printf("malformed requests=%lu refused=%lu json_rpc_errors=%lu error_batches=%lu "
	    "http_413=%lu problems=%lu connections=%lu categories=", all.posts,
	    nerrors + nbatches + n413, nerrors, nbatches, n413, all.problems, all.connections);
	for (j = 0; j < ncats; j++)
		printf("%s%s:%lu/%lu", j ? "," : "", cats[j].name, cats[j].ok, cats[j].n);
	printf("\n");
	for (i = 0; i < all.nshown; i++)
		fprintf(stderr, "loadclient: %s\n", all.first_problem[i]);
	return all.problems == 0 && all.posts == o->requests ? 0 : 1;
}

/* ---- main ---- */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: loadclient mixed --url URL --addr ADDR --chainid N --records FILE\n"
	    "           [--clients N] [--requests N] [--stop-file PATH] [--slow N]\n"
	    "           [--slow-byte-ms MS] [--pace-ms MS] [--binary-text] [--timeout S] [--seed N]\n"
	    "       loadclient malformed --url URL --addr ADDR --chainid N\n"
	    "           [--clients N] [--requests N] [--timeout S] [--seed N] [--dump]\n");
}

static unsigned long
parse_ulong(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno != 0 || *end != '\0' || *s == '\0' || *s == '-' || v > max) {
		usage(stderr);
		exit(2);
	}
	return v;
}

static void
parse_opts(struct lc_opts *o, int argc, char **argv)
{
	enum { O_URL = 256, O_ADDR, O_CHAIN, O_RECORDS, O_STOP, O_CLIENTS, O_REQUESTS, O_SLOW,
	    O_SLOW_MS, O_TIMEOUT, O_SEED, O_BINARY, O_DUMP, O_PACE };
	static const struct option lo[] = {
		{ "url", required_argument, NULL, O_URL },
		{ "addr", required_argument, NULL, O_ADDR },
		{ "chainid", required_argument, NULL, O_CHAIN },
		{ "records", required_argument, NULL, O_RECORDS },
		{ "stop-file", required_argument, NULL, O_STOP },
		{ "clients", required_argument, NULL, O_CLIENTS },
		{ "requests", required_argument, NULL, O_REQUESTS },
		{ "slow", required_argument, NULL, O_SLOW },
		{ "slow-byte-ms", required_argument, NULL, O_SLOW_MS },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "seed", required_argument, NULL, O_SEED },
		{ "binary-text", no_argument, NULL, O_BINARY },
		{ "dump", no_argument, NULL, O_DUMP },
		{ "pace-ms", required_argument, NULL, O_PACE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	if (argc < 2 || (strcmp(argv[1], "mixed") != 0 && strcmp(argv[1], "malformed") != 0)) {
		usage(stderr);
		exit(2);
	}
	o->malformed = strcmp(argv[1], "malformed") == 0;
	o->clients = o->malformed ? 4 : 8;
	o->requests = o->malformed ? 10000 : 500;
	o->slow_byte_ms = 100;
	o->timeout_s = 30;
	o->seed = 1;
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_URL: o->url = optarg; break;
		case O_ADDR: o->addr = optarg; break;
		case O_CHAIN: o->chainid = parse_ulong(optarg, 0xffffffffUL); break;
		case O_RECORDS: o->records = optarg; break;
		case O_STOP: o->stop_file = optarg; break;
		case O_CLIENTS: o->clients = (unsigned)parse_ulong(optarg, LC_MAX_CLIENTS); break;
		case O_REQUESTS: o->requests = parse_ulong(optarg, 10000000); break;
		case O_SLOW: o->slow = (unsigned)parse_ulong(optarg, LC_MAX_SLOW); break;
		case O_SLOW_MS: o->slow_byte_ms = (unsigned)parse_ulong(optarg, 10000); break;
		case O_TIMEOUT: o->timeout_s = (long)parse_ulong(optarg, 3600); break;
		case O_SEED: o->seed = parse_ulong(optarg, ~0UL); break;
		case O_BINARY: o->binary_text = 1; break;
		case O_DUMP: o->dump = 1; break;
		case O_PACE: o->pace_ms = (unsigned)parse_ulong(optarg, 10000); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc || o->url == NULL || o->addr == NULL || strlen(o->addr) != 42 ||
	    o->chainid == 0 || o->clients == 0 || o->timeout_s == 0 ||
	    (!o->malformed && o->records == NULL) ||
	    sscanf(o->url, "http://%63[0-9.]:%u", o->host, &o->port) != 2) {
		usage(stderr);
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	struct lc_opts o;
	int r;

	parse_opts(&o, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "loadclient: curl_global_init failed\n");
		return 1;
	}
	r = o.malformed ? (o.dump ? dump_malformed(&o) : run_malformed(&o)) : run_mixed(&o);
	curl_global_cleanup();
	return r;
}
