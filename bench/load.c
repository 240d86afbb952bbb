/*
 * load - N concurrent JSON-RPC clients, each sending the same request a
 * fixed number of times and timing every answer: the load bench/run puts on
 * `p11signer serve` (HTTP, IPC), on p11signer-relay and on the old Clef
 * guide's proof-of-concept chain.
 *
 *   load (--http URL | --ipc PATH) --body FILE... [--clients N] [--requests N]
 *        [--warmup N] [--http09] [--timeout S] [--watch-pid PID]...
 *
 * --http: each client is one libcurl easy handle, reused for every request,
 * so the connection is kept alive where the server allows it.  --http09
 * accepts an answer with no status line (the proof-of-concept relay writes
 * the vault's output straight to the socket).  --ipc: each client is one
 * connection to a Unix socket, requests written one after the other and each
 * answer read up to its newline (rpc/ipc.h).
 *
 * --body may be given up to LOAD_MAX_BODIES times: client i sends body
 * i mod their number (bench/run's multi-token run: one key per token).
 *
 * --requests is the total over all clients (default 1000); --warmup requests
 * per client are sent before the clock starts and are not counted.  Every
 * answer must be a JSON object with a non-null "result" and no "error";
 * anything else counts as an error (the first one is printed).
 *
 * --watch-pid (repeatable) samples VmRSS of that process from /proc every
 * 20 ms while the clock runs and reports the largest value seen.
 *
 * Prints one line of key=value figures for bench/run:
 *   load transport=http clients=N requests=N ok=N errors=N seconds=S rate=R
 *        p50_us=U p99_us=U mean_us=U cpu_s=S [rss_max_kib=PID:KiB,...]
 * (cpu_s: CPU time of this process, the clients' own cost, while the clock ran)
 * Exit status 0 when every answer had a result, 1 otherwise, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#define LOAD_MAX_CLIENTS	256
#define LOAD_MAX_WATCH		8
#define LOAD_MAX_BODY		(1u << 20)
#define LOAD_MAX_BODIES		8
#define LOAD_MAX_ANSWER		(1u << 20)

struct load_opts {
	const char *http_url;
	const char *ipc_path;
	const char *body_file[LOAD_MAX_BODIES];
	size_t nbody;
	unsigned clients;
	unsigned long requests;		/* total */
	unsigned warmup;		/* per client */
	int http09;
	long timeout_s;
	pid_t watch[LOAD_MAX_WATCH];
	size_t nwatch;
};

struct load_answer {
	char *p;
	size_t len, cap;
	int too_big;
};

struct load_client {
	pthread_t thread;
	const struct load_opts *o;
	const char *body;
	size_t body_len;
	unsigned long todo;
	pthread_barrier_t *start;
	/* results */
	unsigned long ok, errors;
	char first_error[256];
	uint32_t *lat_ns;
	size_t lat_n;
	double finished;
};

static volatile int watching;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time (user + system) this process has used, in seconds. */
static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: load (--http URL | --ipc PATH) --body FILE (repeatable) [--clients N] [--requests N]\n"
	    "            [--warmup N] [--http09] [--timeout S] [--watch-pid PID]...\n");
}

static void note_error(struct load_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
note_error(struct load_client *c, const char *fmt, ...)
{
	va_list ap;

	if (c->errors++ == 0) {
		va_start(ap, fmt);
		vsnprintf(c->first_error, sizeof(c->first_error), fmt, ap);
		va_end(ap);
	}
}

/* 0 when the answer is a JSON-RPC success: an object with a result and no error. */
static int
check_answer(struct load_client *c, const char *p, size_t len)
{
	json_error_t jerr;
	json_t *j;
	int r = -1;

	if ((j = json_loadb(p, len, 0, &jerr)) == NULL) {
		note_error(c, "not JSON: %.200s", len ? p : "(empty answer)");
		return -1;
	}
	if (!json_is_object(j) || json_object_get(j, "error") != NULL ||
	    json_object_get(j, "result") == NULL || json_is_null(json_object_get(j, "result")))
		note_error(c, "no result: %.200s", p);
	else
		r = 0;
	json_decref(j);
	return r;
}

static size_t
on_http_data(char *data, size_t size, size_t n, void *arg)
{
	struct load_answer *a = arg;
	size_t len = size * n;

	if (a->len + len + 1 > a->cap) {
		a->too_big = 1;
		return len;		/* drain it; the check fails */
	}
	memcpy(a->p + a->len, data, len);
	a->len += len;
	a->p[a->len] = '\0';
	return len;
}

static void
run_http(struct load_client *c)
{
	const struct load_opts *o = c->o;
	struct load_answer a = { NULL, 0, LOAD_MAX_ANSWER, 0 };
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE];
	unsigned long i, n;
	CURL *h;

	if ((a.p = malloc(a.cap)) == NULL || (h = curl_easy_init()) == NULL) {
		free(a.p);
		note_error(c, "cannot set up libcurl");
		pthread_barrier_wait(c->start);
		return;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	/* no "Expect: 100-continue" round trip for small bodies */
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, o->http_url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)c->body_len);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_http_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, o->timeout_s);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (o->http09)
		curl_easy_setopt(h, CURLOPT_HTTP09_ALLOWED, 1L);
	n = o->warmup + c->todo;
	for (i = 0; i < n; i++) {
		uint64_t t0;
		CURLcode cr;
		long status = 0;
		int warm = i < o->warmup;

		if (i == o->warmup)
			pthread_barrier_wait(c->start);
		a.len = 0;
		a.too_big = 0;
		errbuf[0] = '\0';
		t0 = now_ns();
		cr = curl_easy_perform(h);
		if (cr == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (cr != CURLE_OK) {
			if (!warm)
				note_error(c, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cr));
			continue;
		}
		if (!o->http09 && status != 200) {
			if (!warm) {
				note_error(c, "HTTP status %ld", status);
			}
			continue;
		}
		if (a.too_big) {
			if (!warm)
				note_error(c, "answer too big");
			continue;
		}
		if (warm)
			continue;
		if (check_answer(c, a.p, a.len) == 0) {
			uint64_t ns = now_ns() - t0;

			c->lat_ns[c->lat_n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
			c->ok++;
		}
	}
	if (o->warmup >= n)
		pthread_barrier_wait(c->start);
	c->finished = now_s();
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	free(a.p);
}

static int
ipc_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);	/* length checked above */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send the body; read one answer line (without its newline) into a. */
static int
ipc_roundtrip(int fd, const char *body, size_t len, struct load_answer *a)
{
	size_t off = 0;
	ssize_t got;
	char *nl;

	while (off < len) {
		got = send(fd, body + off, len - off, MSG_NOSIGNAL);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		off += (size_t)got;
	}
	a->len = 0;
	for (;;) {
		if (a->len + 1 >= a->cap)
			return -1;
		got = recv(fd, a->p + a->len, a->cap - a->len - 1, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		a->len += (size_t)got;
		a->p[a->len] = '\0';
		/* one request in flight per connection: the answer ends the data */
		if ((nl = memchr(a->p, '\n', a->len)) != NULL) {
			a->len = (size_t)(nl - a->p);
			*nl = '\0';
			return 0;
		}
	}
}

static void
run_ipc(struct load_client *c)
{
	const struct load_opts *o = c->o;
	struct load_answer a = { NULL, 0, LOAD_MAX_ANSWER, 0 };
	unsigned long i, n = o->warmup + c->todo;
	int fd = -1;

	if ((a.p = malloc(a.cap)) == NULL || (fd = ipc_connect(o->ipc_path)) < 0) {
		note_error(c, "cannot connect to %s", o->ipc_path);
		pthread_barrier_wait(c->start);
		free(a.p);
		return;
	}
	for (i = 0; i < n; i++) {
		uint64_t t0;
		int warm = i < o->warmup;

		if (i == o->warmup)
			pthread_barrier_wait(c->start);
		t0 = now_ns();
		if (ipc_roundtrip(fd, c->body, c->body_len, &a) != 0) {
			/* nothing more can be sent here: this request and the rest failed */
			unsigned long measured = warm ? 0 : i - o->warmup;

			if (c->errors == 0)
				snprintf(c->first_error, sizeof(c->first_error),
				    "the IPC connection broke");
			c->errors += c->todo - measured;
			if (warm)
				pthread_barrier_wait(c->start);
			break;
		}
		if (warm)
			continue;
		if (check_answer(c, a.p, a.len) == 0) {
			uint64_t ns = now_ns() - t0;

			c->lat_ns[c->lat_n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
			c->ok++;
		}
	}
	if (o->warmup >= n)
		pthread_barrier_wait(c->start);
	c->finished = now_s();
	close(fd);
	free(a.p);
}

static void *
client_main(void *arg)
{
	struct load_client *c = arg;

	if (c->o->http_url != NULL)
		run_http(c);
	else
		run_ipc(c);
	return NULL;
}

/* VmRSS of pid in KiB, or -1. */
static long
vm_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kib = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}

struct load_watch {
	const struct load_opts *o;
	long max_kib[LOAD_MAX_WATCH];
};

static void *
watch_main(void *arg)
{
	struct load_watch *w = arg;
	const struct timespec tick = { 0, 20 * 1000 * 1000 };
	size_t i;

	while (watching) {
		for (i = 0; i < w->o->nwatch; i++) {
			long kib = vm_rss_kib(w->o->watch[i]);

			if (kib > w->max_kib[i])
				w->max_kib[i] = kib;
		}
		nanosleep(&tick, NULL);
	}
	return NULL;
}

static char *
read_body(const char *path, size_t *lenp)
{
	struct stat st;
	char *p = NULL;
	size_t len = 0;
	ssize_t got;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || st.st_size <= 0 || (size_t)st.st_size > LOAD_MAX_BODY ||
	    (p = malloc((size_t)st.st_size + 1)) == NULL)
		goto fail;
	while (len < (size_t)st.st_size) {
		got = read(fd, p + len, (size_t)st.st_size - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			goto fail;
		len += (size_t)got;
	}
	p[len] = '\0';
	close(fd);
	*lenp = len;
	return p;
 fail:
	free(p);
	close(fd);
	return NULL;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double
percentile_us(const uint32_t *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0;
	rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1] / 1000.0;
}

static void
parse_opts(struct load_opts *o, int argc, char **argv)
{
	enum { O_HTTP = 256, O_IPC, O_BODY, O_CLIENTS, O_REQUESTS, O_WARMUP, O_HTTP09, O_TIMEOUT, O_WATCH };
	static const struct option lo[] = {
		{ "http", required_argument, NULL, O_HTTP },
		{ "ipc", required_argument, NULL, O_IPC },
		{ "body", required_argument, NULL, O_BODY },
		{ "clients", required_argument, NULL, O_CLIENTS },
		{ "requests", required_argument, NULL, O_REQUESTS },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "http09", no_argument, NULL, O_HTTP09 },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "watch-pid", required_argument, NULL, O_WATCH },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long v;
	int c;

	memset(o, 0, sizeof(*o));
	o->clients = 1;
	o->requests = 1000;
	o->warmup = 5;
	o->timeout_s = 60;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_HTTP: o->http_url = optarg; break;
		case O_IPC: o->ipc_path = optarg; break;
		case O_BODY:
			if (o->nbody == LOAD_MAX_BODIES)
				goto bad;
			o->body_file[o->nbody++] = optarg;
			break;
		case O_CLIENTS:
			o->clients = (unsigned)strtoul(optarg, &end, 10);
			if (*end != '\0' || o->clients == 0 || o->clients > LOAD_MAX_CLIENTS)
				goto bad;
			break;
		case O_REQUESTS:
			o->requests = strtoul(optarg, &end, 10);
			if (*end != '\0' || o->requests == 0)
				goto bad;
			break;
		case O_WARMUP:
			o->warmup = (unsigned)strtoul(optarg, &end, 10);
			if (*end != '\0')
				goto bad;
			break;
		case O_HTTP09: o->http09 = 1; break;
		case O_TIMEOUT:
			o->timeout_s = strtol(optarg, &end, 10);
			if (*end != '\0' || o->timeout_s <= 0)
				goto bad;
			break;
		case O_WATCH:
			v = strtol(optarg, &end, 10);
			if (*end != '\0' || v <= 0 || o->nwatch == LOAD_MAX_WATCH)
				goto bad;
			o->watch[o->nwatch++] = (pid_t)v;
			break;
		case 'h': usage(stdout); exit(0);
		default: goto bad;
		}
	}
	if (optind == argc && (o->http_url == NULL) != (o->ipc_path == NULL) &&
	    o->nbody > 0 && o->requests >= o->clients)
		return;
 bad:
	usage(stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	static struct load_client clients[LOAD_MAX_CLIENTS];
	struct load_opts o;
	struct load_watch w;
	pthread_t watcher;
	pthread_barrier_t start;
	uint32_t *all = NULL;
	size_t nall = 0, k, body_len[LOAD_MAX_BODIES] = { 0 };
	unsigned long ok = 0, errors = 0;
	double t0, t1 = 0, secs, sum = 0, cpu0, cpu1;
	char *body[LOAD_MAX_BODIES] = { NULL };
	unsigned i;

	parse_opts(&o, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	for (k = 0; k < o.nbody; k++)
		if ((body[k] = read_body(o.body_file[k], &body_len[k])) == NULL) {
			fprintf(stderr, "load: cannot read a request body from %s\n", o.body_file[k]);
			return 1;
		}
	if (o.http_url != NULL && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "load: curl_global_init failed\n");
		return 1;
	}
	memset(&w, 0, sizeof(w));
	w.o = &o;
	for (k = 0; k < o.nwatch; k++)
		w.max_kib[k] = vm_rss_kib(o.watch[k]);

	pthread_barrier_init(&start, NULL, o.clients + 1);
	for (i = 0; i < o.clients; i++) {
		struct load_client *c = &clients[i];

		c->o = &o;
		c->body = body[i % o.nbody];
		c->body_len = body_len[i % o.nbody];
		c->start = &start;
		c->todo = o.requests / o.clients + (i < o.requests % o.clients);
		if ((c->lat_ns = calloc(c->todo, sizeof(*c->lat_ns))) == NULL ||
		    pthread_create(&c->thread, NULL, client_main, c) != 0) {
			fprintf(stderr, "load: cannot start client %u\n", i);
			return 1;
		}
	}
	/* Every client is connected and warm: go. */
	pthread_barrier_wait(&start);
	t0 = now_s();
	cpu0 = cpu_s();
	watching = 1;
	if (o.nwatch > 0 && pthread_create(&watcher, NULL, watch_main, &w) != 0)
		o.nwatch = 0;
	for (i = 0; i < o.clients; i++) {
		pthread_join(clients[i].thread, NULL);
		if (clients[i].finished > t1)
			t1 = clients[i].finished;
		ok += clients[i].ok;
		errors += clients[i].errors;
		nall += clients[i].lat_n;
	}
	cpu1 = cpu_s();
	watching = 0;
	if (o.nwatch > 0)
		pthread_join(watcher, NULL);
	pthread_barrier_destroy(&start);
	for (i = 0; i < o.clients; i++)
		if (clients[i].errors != 0)
			fprintf(stderr, "load: client %u: %lu errors; first: %s\n", i,
			    clients[i].errors, clients[i].first_error);

	if ((all = malloc((nall ? nall : 1) * sizeof(*all))) == NULL) {
		fprintf(stderr, "load: out of memory\n");
		return 1;
	}
	nall = 0;
	for (i = 0; i < o.clients; i++) {
		memcpy(all + nall, clients[i].lat_ns, clients[i].lat_n * sizeof(*all));
		nall += clients[i].lat_n;
		free(clients[i].lat_ns);
	}
	qsort(all, nall, sizeof(*all), cmp_u32);
	for (k = 0; k < nall; k++)
		sum += all[k];
	secs = t1 > t0 ? t1 - t0 : 1e-9;
	printf("load transport=%s clients=%u requests=%lu ok=%lu errors=%lu seconds=%.3f "
	    "rate=%.1f p50_us=%.1f p99_us=%.1f mean_us=%.1f cpu_s=%.3f",
	    o.http_url ? "http" : "ipc", o.clients, o.requests, ok, errors, secs,
	    (double)ok / secs, percentile_us(all, nall, 50), percentile_us(all, nall, 99),
	    nall ? sum / (double)nall / 1000.0 : 0.0, cpu1 - cpu0);
	for (k = 0; k < o.nwatch; k++)
		printf("%s%ld:%ld", k == 0 ? " rss_max_kib=" : ",", (long)o.watch[k], w.max_kib[k]);
	printf("\n");
	free(all);
	for (k = 0; k < o.nbody; k++)
		free(body[k]);
	if (o.http_url != NULL)
		curl_global_cleanup();
	return errors == 0 && ok == o.requests ? 0 : 1;
}
