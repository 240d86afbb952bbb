/*
 * csign - raw C_Sign throughput and latency of a PKCS#11 module: the ceiling
 * bench/run compares `p11signer serve` against.  Nothing of p11signer is in
 * the loop: the module is dlopen()ed here, initialised with
 * CKF_OS_LOCKING_OK (several threads use it), logged in once, and N threads
 * each open a session of their own and sign 32-byte digests with CKM_ECDSA,
 * as the token helper does.
 *
 *   csign --module PATH --token LABEL --key LABEL --pin-file FILE
 *         [--sessions N] [--signs N | --seconds S] [--warmup N]
 *
 * --signs is the total over all sessions (default 4000); --seconds runs each
 * session for that long instead.  --warmup signs that many times per session
 * before the clock starts.  The PIN file holds the user PIN (one trailing
 * newline is dropped); the PIN is wiped once logged in.
 *
 * Prints one line of key=value figures for bench/run:
 *   csign sessions=N signs=N errors=0 seconds=S rate=R p50_us=U p99_us=U mean_us=U cpu_s=S
 * (cpu_s: CPU time of this process, the module's signing included, while the clock ran)
 * Exit status 0 when every signature was made, 1 otherwise, 2 on bad usage.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define CSIGN_MAX_SESSIONS	64
#define CSIGN_MAX_PIN		64
#define CSIGN_MAX_LATENCIES	(1u << 22)	/* per session, for --seconds runs */

struct csign_opts {
	const char *module;
	const char *token;
	const char *key;
	const char *pin_file;
	unsigned sessions;
	unsigned long signs;		/* total; 0 with --seconds */
	double seconds;
	unsigned warmup;
};

struct csign_worker {
	pthread_t thread;
	unsigned index;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	CK_OBJECT_HANDLE key;
	unsigned long todo;		/* signs to make; 0: until the deadline */
	double deadline;		/* CLOCK_MONOTONIC seconds, with --seconds */
	unsigned warmup;
	pthread_barrier_t *start;
	/* results */
	unsigned long done;
	unsigned long errors;
	CK_RV first_error;
	uint32_t *lat_ns;		/* per-sign latency, up to lat_cap */
	size_t lat_n, lat_cap;
	double finished;
};

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
	    "usage: csign --module PATH --token LABEL --key LABEL --pin-file FILE\n"
	    "             [--sessions N] [--signs N | --seconds S] [--warmup N]\n");
}

/* A different digest for every sign, so no layer can cache an answer. */
static void
make_digest(CK_BYTE digest[32], unsigned worker, unsigned long n)
{
	uint64_t x = ((uint64_t)worker << 48) ^ (uint64_t)n ^ 0x9e3779b97f4a7c15ull;
	size_t i;

	for (i = 0; i < 32; i++) {
		/* xorshift64: cheap, and nothing here needs to be unpredictable */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		digest[i] = (CK_BYTE)x;
	}
}

static int
sign_one(struct csign_worker *w, CK_SESSION_HANDLE s, unsigned long n, uint64_t *nsp)
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_BYTE digest[32], sig[160];
	CK_ULONG siglen = sizeof(sig);
	uint64_t t0;
	CK_RV rv;

	make_digest(digest, w->index, n);
	t0 = now_ns();
	rv = w->f->C_SignInit(s, &mech, w->key);
	if (rv == CKR_OK)
		rv = w->f->C_Sign(s, digest, sizeof(digest), sig, &siglen);
	*nsp = now_ns() - t0;
	/* raw r || s of a 256-bit curve, or a DER SEQUENCE of two INTEGERs */
	if (rv == CKR_OK && siglen != 64 && (siglen < 8 || siglen > 72 || sig[0] != 0x30))
		rv = CKR_GENERAL_ERROR;
	if (rv != CKR_OK) {
		if (w->errors++ == 0)
			w->first_error = rv;
		return -1;
	}
	return 0;
}

static void *
worker_main(void *arg)
{
	struct csign_worker *w = arg;
	CK_SESSION_HANDLE s;
	unsigned long n = 0;
	uint64_t ns;
	unsigned i;
	CK_RV rv;

	rv = w->f->C_OpenSession(w->slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK) {
		w->errors = 1;
		w->first_error = rv;
		pthread_barrier_wait(w->start);
		return NULL;
	}
	for (i = 0; i < w->warmup; i++)
		(void)sign_one(w, s, ~(unsigned long)i, &ns);
	w->errors = 0;
	w->first_error = CKR_OK;
	pthread_barrier_wait(w->start);
	for (;;) {
		if (w->todo != 0 ? n >= w->todo : now_s() >= w->deadline)
			break;
		if (sign_one(w, s, n, &ns) == 0) {
			w->done++;
			if (w->lat_n < w->lat_cap)
				w->lat_ns[w->lat_n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
		}
		n++;
	}
	w->finished = now_s();
	(void)w->f->C_CloseSession(s);
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

/* Read the PIN file into pin (wiped by the caller); drops one trailing newline. */
static int
read_pin(const char *path, CK_BYTE pin[CSIGN_MAX_PIN], CK_ULONG *lenp)
{
	ssize_t got;
	size_t len = 0;
	int fd, r = -1;

	*lenp = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return -1;
	while (len < CSIGN_MAX_PIN) {
		got = read(fd, pin + len, CSIGN_MAX_PIN - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			goto out;
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (len == CSIGN_MAX_PIN)
		goto out;
	if (len > 0 && pin[len - 1] == '\n')
		len--;
	if (len == 0)
		goto out;
	*lenp = len;
	r = 0;
 out:
	close(fd);
	return r;
}

/* Copy a blank-padded PKCS#11 label into out, without the padding. */
static void
label_str(const CK_UTF8CHAR *label, size_t n, char *out)
{
	while (n > 0 && label[n - 1] == ' ')
		n--;
	memcpy(out, label, n);
	out[n] = '\0';
}

static int
find_slot(CK_FUNCTION_LIST_PTR f, const char *token, CK_SLOT_ID *slotp)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	char label[sizeof(ti.label) + 1];

	if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return -1;
	for (i = 0; i < n; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		label_str(ti.label, sizeof(ti.label), label);
		if (strcmp(label, token) == 0) {
			*slotp = slots[i];
			return 0;
		}
	}
	return -1;
}

static int
find_key(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, const char *label,
    CK_OBJECT_HANDLE *keyp)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_EC;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_LABEL, (void *)(uintptr_t)label, strlen(label) },
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;
	int r = -1;

	if (f->C_FindObjectsInit(s, tmpl, 3) != CKR_OK)
		return -1;
	if (f->C_FindObjects(s, h, 2, &n) == CKR_OK && n == 1) {
		*keyp = h[0];
		r = 0;
	}
	(void)f->C_FindObjectsFinal(s);
	return r;
}

static void
parse_opts(struct csign_opts *o, int argc, char **argv)
{
	enum { O_MODULE = 256, O_TOKEN, O_KEY, O_PIN_FILE, O_SESSIONS, O_SIGNS, O_SECONDS, O_WARMUP };
	static const struct option lo[] = {
		{ "module", required_argument, NULL, O_MODULE },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "key", required_argument, NULL, O_KEY },
		{ "pin-file", required_argument, NULL, O_PIN_FILE },
		{ "sessions", required_argument, NULL, O_SESSIONS },
		{ "signs", required_argument, NULL, O_SIGNS },
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->sessions = 1;
	o->signs = 4000;
	o->warmup = 20;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_MODULE: o->module = optarg; break;
		case O_TOKEN: o->token = optarg; break;
		case O_KEY: o->key = optarg; break;
		case O_PIN_FILE: o->pin_file = optarg; break;
		case O_SESSIONS:
			o->sessions = (unsigned)strtoul(optarg, &end, 10);
			if (*end != '\0' || o->sessions == 0 || o->sessions > CSIGN_MAX_SESSIONS)
				goto bad;
			break;
		case O_SIGNS:
			o->signs = strtoul(optarg, &end, 10);
			if (*end != '\0' || o->signs == 0)
				goto bad;
			o->seconds = 0;
			break;
		case O_SECONDS:
			o->seconds = strtod(optarg, &end);
			if (*end != '\0' || !(o->seconds > 0 && o->seconds <= 3600))
				goto bad;
			o->signs = 0;
			break;
		case O_WARMUP:
			o->warmup = (unsigned)strtoul(optarg, &end, 10);
			if (*end != '\0')
				goto bad;
			break;
		case 'h': usage(stdout); exit(0);
		default: goto bad;
		}
	}
	if (optind == argc && o->module != NULL && o->token != NULL && o->key != NULL &&
	    o->pin_file != NULL)
		return;
 bad:
	usage(stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	static const CK_C_INITIALIZE_ARGS init_args = {
		NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL
	};
	static struct csign_worker workers[CSIGN_MAX_SESSIONS];
	struct csign_opts o;
	struct rlimit nocore = { 0, 0 };
	CK_C_GetFunctionList get_list;
	CK_FUNCTION_LIST_PTR f = NULL;
	CK_SESSION_HANDLE login_session = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE key;
	CK_SLOT_ID slot;
	CK_BYTE pin[CSIGN_MAX_PIN];
	CK_ULONG pinlen = 0;
	pthread_barrier_t start;
	uint32_t *all = NULL;
	size_t nall = 0;
	unsigned long done = 0, errors = 0;
	double t0, t1 = 0, cpu0, cpu1;
	void *dl = NULL;
	unsigned i;
	CK_RV rv;
	int r = 1, initialized = 0;

	parse_opts(&o, argc, argv);
	/* The PIN passes through this process: no core dump, no ptrace. */
	setrlimit(RLIMIT_CORE, &nocore);
	prctl(PR_SET_DUMPABLE, 0);

	if ((dl = dlopen(o.module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "csign: %s\n", dlerror());
		goto out;
	}
	if ((get_list = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
	    get_list(&f) != CKR_OK) {
		fprintf(stderr, "csign: %s: no C_GetFunctionList\n", o.module);
		goto out;
	}
	if ((rv = f->C_Initialize((CK_VOID_PTR)(uintptr_t)&init_args)) != CKR_OK) {
		fprintf(stderr, "csign: C_Initialize: 0x%lx\n", (unsigned long)rv);
		goto out;
	}
	initialized = 1;
	if (find_slot(f, o.token, &slot) != 0) {
		fprintf(stderr, "csign: no token labelled \"%s\"\n", o.token);
		goto out;
	}
	/* This session stays open: the login lasts while one session does. */
	if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &login_session)) != CKR_OK) {
		fprintf(stderr, "csign: C_OpenSession: 0x%lx\n", (unsigned long)rv);
		goto out;
	}
	if (read_pin(o.pin_file, pin, &pinlen) != 0) {
		explicit_bzero(pin, sizeof(pin));
		fprintf(stderr, "csign: cannot read a PIN from %s\n", o.pin_file);
		goto out;
	}
	rv = f->C_Login(login_session, CKU_USER, pin, pinlen);
	explicit_bzero(pin, sizeof(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		fprintf(stderr, "csign: C_Login: 0x%lx\n", (unsigned long)rv);
		goto out;
	}
	if (find_key(f, login_session, o.key, &key) != 0) {
		fprintf(stderr, "csign: no single EC private key labelled \"%s\"\n", o.key);
		goto out;
	}

	pthread_barrier_init(&start, NULL, o.sessions + 1);
	for (i = 0; i < o.sessions; i++) {
		struct csign_worker *w = &workers[i];

		w->index = i;
		w->f = f;
		w->slot = slot;
		w->key = key;
		w->warmup = o.warmup;
		w->start = &start;
		w->todo = o.signs != 0 ? o.signs / o.sessions + (i < o.signs % o.sessions) : 0;
		w->lat_cap = w->todo != 0 ? w->todo : CSIGN_MAX_LATENCIES;
		if ((w->lat_ns = calloc(w->lat_cap, sizeof(*w->lat_ns))) == NULL) {
			fprintf(stderr, "csign: out of memory\n");
			exit(1);
		}
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			fprintf(stderr, "csign: cannot start a thread\n");
			exit(1);
		}
	}
	/* Every session is open and warm: go. */
	t0 = now_s();
	for (i = 0; i < o.sessions; i++)
		workers[i].deadline = t0 + o.seconds;
	pthread_barrier_wait(&start);
	t0 = now_s();
	cpu0 = cpu_s();
	for (i = 0; i < o.sessions; i++) {
		pthread_join(workers[i].thread, NULL);
		if (workers[i].finished > t1)
			t1 = workers[i].finished;
		done += workers[i].done;
		errors += workers[i].errors;
		nall += workers[i].lat_n;
	}
	cpu1 = cpu_s();
	pthread_barrier_destroy(&start);
	for (i = 0; i < o.sessions; i++)
		if (workers[i].errors != 0)
			fprintf(stderr, "csign: session %u: %lu errors, first 0x%lx\n", i,
			    workers[i].errors, (unsigned long)workers[i].first_error);
	if ((all = malloc((nall ? nall : 1) * sizeof(*all))) == NULL) {
		fprintf(stderr, "csign: out of memory\n");
		goto out;
	}
	nall = 0;
	for (i = 0; i < o.sessions; i++) {
		memcpy(all + nall, workers[i].lat_ns, workers[i].lat_n * sizeof(*all));
		nall += workers[i].lat_n;
	}
	qsort(all, nall, sizeof(*all), cmp_u32);
	{
		double sum = 0, secs = t1 > t0 ? t1 - t0 : 1e-9;
		size_t k;

		for (k = 0; k < nall; k++)
			sum += all[k];
		printf("csign sessions=%u signs=%lu errors=%lu seconds=%.3f rate=%.1f "
		    "p50_us=%.1f p99_us=%.1f mean_us=%.1f cpu_s=%.3f\n", o.sessions, done, errors,
		    secs, (double)done / secs, percentile_us(all, nall, 50),
		    percentile_us(all, nall, 99), nall ? sum / (double)nall / 1000.0 : 0.0,
		    cpu1 - cpu0);
	}
	r = errors == 0 && done > 0 ? 0 : 1;
 out:
	free(all);
	for (i = 0; i < CSIGN_MAX_SESSIONS; i++)
		free(workers[i].lat_ns);
	if (login_session != CK_INVALID_HANDLE) {
		(void)f->C_Logout(login_session);
		(void)f->C_CloseSession(login_session);
	}
	if (initialized)
		(void)f->C_Finalize(NULL);
	/* SoftHSM2 is not dlclose()d: some modules leave threads or atexit handlers behind. */
	(void)dl;
	return r;
}
