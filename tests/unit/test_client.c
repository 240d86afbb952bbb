/*
 * The daemon's side of the token protocol (src/p11/client) against
 * tests/tools/fake-token-helper, a stand-in p11signer-token with canned keys
 * that misbehaves on demand (its module argument says how; see its header).
 *
 * Every test checks at its end that no descriptor, thread or child process
 * is left.  Every loop is bounded in count and in time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "eth/addr.h"
#include "core/err.h"
#include "core/limits.h"
#include "eth/keccak.h"
#include "eth/sig.h"
#include "p11/client.h"
#include "testutil.h"

#define TOKEN0_URI "pkcs11:manufacturer=p11signer;model=fake;serial=0001;token=fake0"

/* ---- helpers ---- */

static int
count_dir(const char *path)
{
	struct dirent *e;
	DIR *d = opendir(path);
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && strtol(e->d_name, NULL, 10) != dirfd(d))
			n++;
	closedir(d);
	return n;
}

/* What a test must leave as it found it. */
struct snap {
	int fds, threads;
};

/*
 * The thread count, once it has settled: a thread that pthread_join() has
 * returned for can stay in /proc/self/task for a moment after (its kernel
 * task is still being torn down), longer on a loaded machine.  Waits at
 * most 1 s for it to reach want (or, with want < 0, to stop changing).
 */
static int
threads_settled(int want)
{
	int i, n = count_dir("/proc/self/task"), prev = -1;

	for (i = 0; i < 100 && (want >= 0 ? n != want : n != prev); i++) {
		testutil_sleep_ms(10);
		prev = n;
		n = count_dir("/proc/self/task");
	}
	return n;
}

static struct snap
snap_take(void)
{
	struct snap s = { count_dir("/proc/self/fd"), threads_settled(-1) };

	return s;
}

/* No descriptor or thread more than at the start, and no child, live or zombie. */
static void
snap_check(const struct snap *s)
{
	int status;

	assert_int_equal(count_dir("/proc/self/fd"), s->fds);
	assert_int_equal(threads_settled(s->threads), s->threads);
	errno = 0;
	assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* The process pid has been reaped (it is neither running nor a zombie of ours). */
static void
assert_reaped(long pid)
{
	int status;

	assert_true(pid > 0);
	errno = 0;
	assert_int_equal(waitpid((pid_t)pid, &status, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void
assert_contains(const char *s, const char *part)
{
	if (strstr(s, part) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", s, part);
}

/* Events received, for the tests that want them. */
struct events {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int n;
	uint8_t kinds[16];
	int uri_ok;
	int other_thread;
	pthread_t main_thread;
	struct p11_client *c;		/* when set: call it from the callback */
	int call_r;
	char call_why[P11_CLIENT_WHY_MAX];
};

static void
on_event(void *ctx, const struct proto_event *ev)
{
	struct events *e = ctx;
	struct proto_msg *list = NULL;

	pthread_mutex_lock(&e->lock);
	if (e->n < 16)
		e->kinds[e->n] = ev->kind;
	e->uri_ok += strcmp(ev->token_uri, TOKEN0_URI) == 0;
	e->other_thread += !pthread_equal(pthread_self(), e->main_thread);
	if (e->c != NULL) {
		e->call_r = p11_client_list(e->c, &list, e->call_why);
		proto_msg_free(list);
	}
	e->n++;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->lock);
}

static const char *const allow[] = { "/usr/lib", "/opt/tokens" };
static const char *const tokens[] = { TOKEN0_URI };

static void
config(struct p11_client_config *cfg, const char *spec, int timeout_ms, struct events *ev)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->helper_path = testutil_build_program("tests/tools/fake-token-helper");
	cfg->module = spec;
	cfg->allowed_dirs = allow;
	cfg->nallowed = 2;
	cfg->token_uris = tokens;
	cfg->ntokens = 1;
	cfg->sessions = 3;
	cfg->timeout_ms = timeout_ms;
	if (ev != NULL) {
		cfg->on_event = on_event;
		cfg->event_ctx = ev;
	}
}

static struct p11_client *
start(const char *spec, int timeout_ms, struct events *ev)
{
	struct p11_client_config cfg;
	struct p11_client *c = NULL;
	char why[P11_CLIENT_WHY_MAX];
	int r;

	config(&cfg, spec, timeout_ms, ev);
	r = p11_client_start(&cfg, &c, why);
	if (r != 0)
		fail_msg("start %s: %s (%s)", spec, err_str(r), why);
	assert_non_null(c);
	assert_true(p11_client_helper_pid(c) > 0);
	return c;
}

static int
start_fails(const char *helper, const char *spec, int timeout_ms, char why[P11_CLIENT_WHY_MAX])
{
	struct p11_client_config cfg;
	struct p11_client *c = (struct p11_client *)&cfg;	/* must be set to NULL */
	int r;

	config(&cfg, spec, timeout_ms, NULL);
	if (helper != NULL)
		cfg.helper_path = helper;
	r = p11_client_start(&cfg, &c, why);
	assert_int_not_equal(r, 0);
	assert_null(c);
	assert_true(why[0] != '\0');
	return r;
}

/* The KEY_LIST description's number for name ("requests=12"), or -1. */
static long
desc_number(const struct proto_msg *list, const char *name)
{
	const char *p = strstr(list->key_list.description, name);

	return p == NULL ? -1 : strtol(p + strlen(name), NULL, 10);
}

static void
digest_for(unsigned t, unsigned i, uint8_t digest[32])
{
	char text[48];

	snprintf(text, sizeof(text), "test_client digest %u/%u", t, i);
	eth_keccak256(text, strlen(text), digest);
}

/* ---- tests ---- */

static void
test_start_stop(void **state)
{
	struct snap s = snap_take();
	struct p11_client *c;
	long pid;
	int i;

	(void)state;
	for (i = 0; i < 10; i++) {
		c = start("fake", 5000, NULL);
		pid = p11_client_helper_pid(c);
		assert_int_equal(kill((pid_t)pid, 0), 0);
		p11_client_stop(c);
		assert_reaped(pid);
	}
	p11_client_stop(NULL);
	assert_int_equal(p11_client_helper_pid(NULL), 0);
	snap_check(&s);
}

static void
test_list_and_arguments(void **state)
{
	struct snap s = snap_take();
	struct p11_client *c;
	struct proto_msg *list = NULL, *gen = NULL, *state_msg = NULL, req;
	char why[P11_CLIENT_WHY_MAX];
	const struct proto_token *t;
	uint8_t addr[20];
	int extra[3], i, r;
	size_t k;

	(void)state;
	/* Descriptors of ours that the helper must not get. */
	for (i = 0; i < 3; i++)
		assert_true((extra[i] = open("/dev/null", O_RDONLY)) > 2);
	c = start("fake", 5000, NULL);
	r = p11_client_list(c, &list, why);
	if (r != 0)
		fail_msg("list: %s (%s)", err_str(r), why);
	assert_int_equal(list->type, PROTO_KEY_LIST);
	assert_string_equal(list->key_list.manufacturer, "p11signer tests");
	/* Its arguments, and what it found open: fds 0-2 only, stdout /dev/null, fd 0 a socket. */
	assert_contains(list->key_list.description,
	    "allow=2 token=1 sessions=3 fds=3 stdout=null sock=1 requests=1 ");
	/* The token URI came in CONFIGURE, not on its command line. */
	assert_contains(list->key_list.description, " rejected=0 argv-uris=0");
	assert_int_equal(list->key_list.ntokens, 2);
	t = &list->key_list.tokens[0];
	assert_string_equal(t->uri, TOKEN0_URI);
	assert_true(t->flags & PROTO_TOKEN_PRESENT);
	assert_int_equal(t->nkeys, 3);
	for (k = 0; k < t->nkeys; k++) {
		assert_int_equal(t->keys[k].handle, k + 1);
		assert_int_equal(eth_addr_from_pubkey(t->keys[k].pub, addr), 0);
		assert_memory_equal(addr, t->keys[k].addr, 20);
	}
	assert_false(list->key_list.tokens[1].flags & PROTO_TOKEN_PRESENT);
	assert_int_equal(list->key_list.tokens[1].nkeys, 0);
	proto_msg_free(list);

	/* KEY_STATUS through p11_client_call(); the id given is ignored. */
	memset(&req, 0, sizeof(req));
	req.type = PROTO_KEY_STATUS;
	req.id = 0;
	req.key_status.key.handle = 2;
	assert_int_equal(p11_client_call(c, &req, &state_msg, why), 0);
	assert_int_equal(state_msg->type, PROTO_KEY_STATE);
	assert_int_equal(state_msg->key_state.handle, 2);
	assert_int_equal(state_msg->key_state.state, PROTO_KEY_AVAILABLE);
	proto_msg_free(state_msg);

	/* GENERATE: the key comes back, and is listed after. */
	r = p11_client_generate(c, TOKEN0_URI, "new key", NULL, 0, &gen, why);
	if (r != 0)
		fail_msg("generate: %s (%s)", err_str(r), why);
	assert_int_equal(gen->type, PROTO_GENERATED);
	assert_string_equal(gen->generated.label, "new key");
	assert_int_equal(p11_client_list(c, &list, why), 0);
	assert_int_equal(list->key_list.tokens[0].nkeys, 4);
	assert_memory_equal(list->key_list.tokens[0].keys[3].addr, gen->generated.addr, 20);
	proto_msg_free(list);
	proto_msg_free(gen);

	/* An ERROR reply is the return code, its message the why. */
	r = p11_client_generate(c, "pkcs11:token=nothere", "x", NULL, 0, &gen, why);
	assert_int_equal(r, ERR_P11_TOKEN_UNKNOWN);
	assert_null(gen);
	assert_string_equal(why, "fake token: no such token");

	p11_client_stop(c);
	for (i = 0; i < 3; i++)
		close(extra[i]);
	snap_check(&s);
}

struct signer_arg {
	struct p11_client *c;
	const uint8_t (*pubs)[65];
	const char (*uris)[160];
	unsigned thread, count;
	unsigned ok;
	int first_r;
	char first_why[P11_CLIENT_WHY_MAX];
};

static void *
signer_main(void *arg)
{
	struct signer_arg *a = arg;
	struct proto_key_ref ref;
	uint8_t digest[32], sig[64];
	char why[P11_CLIENT_WHY_MAX];
	unsigned i, key;
	int recid, r;

	for (i = 0; i < a->count; i++) {
		key = (a->thread + i) % 3;
		memset(&ref, 0, sizeof(ref));
		if (i % 2 == 0)
			ref.handle = key + 1;
		else
			ref.uri = a->uris[key];
		digest_for(a->thread, i, digest);
		r = p11_client_sign(a->c, &ref, digest, sig, why);
		/* The daemon's check: low s, and it recovers to the key. */
		if (r == 0 && eth_sig_find_recid(digest, sig, a->pubs[key], &recid) != 0) {
			r = ERR_SIG_RECOVERY;
			snprintf(why, sizeof(why), "signature %u of thread %u is not by key %u "
			    "over its digest", i, a->thread, key);
		}
		if (r == 0)
			a->ok++;
		else if (a->first_r == 0) {
			a->first_r = r;
			snprintf(a->first_why, sizeof(a->first_why), "%s", why);
		}
	}
	return NULL;
}

static void
test_concurrent_signs(void **state)
{
	struct snap s = snap_take();
	struct signer_arg args[4];
	pthread_t th[4];
	uint8_t pubs[3][65];
	char uris[3][160];
	struct p11_client *c;
	struct proto_msg *list = NULL;
	char why[P11_CLIENT_WHY_MAX];
	unsigned t;
	long t0;

	(void)state;
	c = start("fake:jitter=3", 10000, NULL);
	assert_int_equal(p11_client_list(c, &list, why), 0);
	for (t = 0; t < 3; t++) {
		memcpy(pubs[t], list->key_list.tokens[0].keys[t].pub, 65);
		snprintf(uris[t], sizeof(uris[t]), "%s", list->key_list.tokens[0].keys[t].uri);
	}
	proto_msg_free(list);

	t0 = testutil_now_ms();
	for (t = 0; t < 4; t++) {
		memset(&args[t], 0, sizeof(args[t]));
		args[t].c = c;
		args[t].pubs = (const uint8_t (*)[65])pubs;
		args[t].uris = (const char (*)[160])uris;
		args[t].thread = t;
		args[t].count = 250;
		assert_int_equal(pthread_create(&th[t], NULL, signer_main, &args[t]), 0);
	}
	for (t = 0; t < 4; t++) {
		pthread_join(th[t], NULL);
		if (args[t].first_r != 0)
			fail_msg("thread %u: %s (%s)", t, err_str(args[t].first_r), args[t].first_why);
		assert_int_equal(args[t].ok, 250);
	}
	print_message("# 1000 signs from 4 threads in %ld ms\n", testutil_now_ms() - t0);

	/* The fake answered out of order, and saw every request once. */
	assert_int_equal(p11_client_list(c, &list, why), 0);
	assert_int_equal(desc_number(list, "requests="), 1002);
	print_message("# the fake answered %ld of them out of order\n",
	    desc_number(list, "reordered="));
	assert_true(desc_number(list, "reordered=") > 0);
	proto_msg_free(list);
	p11_client_stop(c);
	snap_check(&s);
}

struct call_arg {
	struct p11_client *c;
	int r;
	long done_ms;
	char why[P11_CLIENT_WHY_MAX];
};

static void *
slow_sign_main(void *arg)
{
	struct call_arg *a = arg;
	struct proto_key_ref ref = { .handle = 1 };
	uint8_t digest[32] = { 1 }, sig[64];

	a->r = p11_client_sign(a->c, &ref, digest, sig, a->why);
	a->done_ms = testutil_now_ms();
	return NULL;
}

static void *
list_main(void *arg)
{
	struct call_arg *a = arg;
	struct proto_msg *list = NULL;

	a->r = p11_client_list(a->c, &list, a->why);
	proto_msg_free(list);
	a->done_ms = testutil_now_ms();
	return NULL;
}

static void
test_killed_mid_request(void **state)
{
	struct snap s = snap_take();
	struct call_arg args[4];
	pthread_t th[4];
	struct p11_client *c;
	struct proto_msg *list = NULL;
	char why[P11_CLIENT_WHY_MAX];
	long pid, pid2, t_start, t_kill, t0;
	int i, r = -1;

	(void)state;
	t_start = testutil_now_ms();
	c = start("fake:slow-sign=5000", 10000, NULL);
	pid = p11_client_helper_pid(c);
	for (i = 0; i < 3; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].c = c;
		assert_int_equal(pthread_create(&th[i], NULL, slow_sign_main, &args[i]), 0);
	}
	testutil_sleep_ms(150);	/* the signs are sent and wait on the fake */
	t_kill = testutil_now_ms();
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
	for (i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].r, ERR_PROTO_CLOSED);
		assert_contains(args[i].why, "the token helper for fake:slow-sign=5000 died (signal 9)");
		assert_true(args[i].done_ms - t_kill < 1000);
	}
	assert_reaped(pid);
	assert_int_equal(p11_client_helper_pid(c), 0);

	/* Within a second of the last start: no restart, and no waiting either. */
	if (testutil_now_ms() - t_start < 800) {
		t0 = testutil_now_ms();
		r = p11_client_list(c, &list, why);
		assert_int_equal(r, ERR_PROTO_CLOSED);
		assert_null(list);
		assert_contains(why, "died (signal 9)");
		assert_contains(why, "at most once a second");
		assert_true(testutil_now_ms() - t0 < 100);
	}

	/* Then it restarts: four threads at once get one new helper. */
	while (testutil_now_ms() - t_start < 1100)
		testutil_sleep_ms(20);
	for (i = 0; i < 4; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].c = c;
		assert_int_equal(pthread_create(&th[i], NULL, list_main, &args[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		if (args[i].r != 0)
			fail_msg("list after restart: %s (%s)", err_str(args[i].r), args[i].why);
	}
	pid2 = p11_client_helper_pid(c);
	assert_true(pid2 > 0);
	assert_int_not_equal(pid2, pid);
	p11_client_stop(c);
	assert_reaped(pid2);
	snap_check(&s);
}

static void
test_killed_socket_held(void **state)
{
	struct snap s = snap_take();
	struct call_arg arg;
	pthread_t th;
	struct p11_client *c;
	long pid, t_kill;

	(void)state;
	/* A process the helper started holds its socket for 5 s: its death is still seen. */
	c = start("fake:holder=5000,slow-sign=5000", 10000, NULL);
	pid = p11_client_helper_pid(c);
	memset(&arg, 0, sizeof(arg));
	arg.c = c;
	assert_int_equal(pthread_create(&th, NULL, slow_sign_main, &arg), 0);
	testutil_sleep_ms(150);
	t_kill = testutil_now_ms();
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
	pthread_join(th, NULL);
	assert_int_equal(arg.r, ERR_PROTO_CLOSED);
	assert_contains(arg.why, "died (signal 9)");
	assert_true(arg.done_ms - t_kill < 1000);
	assert_reaped(pid);
	p11_client_stop(c);
	snap_check(&s);
}

static void
test_exit_status_and_restart(void **state)
{
	struct snap s = snap_take();
	struct p11_client *c;
	struct proto_msg *list = NULL;
	char why[P11_CLIENT_WHY_MAX];
	long t_start, t0;
	int r;

	(void)state;
	/* Dies on its second request, with status 7. */
	c = start("fake:die=2,status=7", 5000, NULL);
	assert_int_equal(p11_client_list(c, &list, why), 0);
	proto_msg_free(list);
	list = NULL;
	assert_int_equal(p11_client_list(c, &list, why), ERR_PROTO_CLOSED);
	assert_null(list);
	assert_string_equal(why, "the token helper for fake:die=2,status=7 exited with status 7");
	p11_client_stop(c);
	snap_check(&s);

	/* Says why before it goes. */
	c = start("fake:farewell=1", 5000, NULL);
	assert_int_equal(p11_client_list(c, &list, why), ERR_PROTO_CLOSED);
	assert_string_equal(why, "the token helper for fake:farewell=1 exited with status 1: "
	    "fake farewell");
	p11_client_stop(c);
	snap_check(&s);

	/* Dies on every first request: restarted at most once a second, never waited for. */
	t_start = testutil_now_ms();
	c = start("fake:die=1", 5000, NULL);
	assert_int_equal(p11_client_list(c, &list, why), ERR_PROTO_CLOSED);
	assert_contains(why, "exited with status 3");
	t0 = testutil_now_ms();
	r = p11_client_list(c, &list, why);
	assert_int_equal(r, ERR_PROTO_CLOSED);
	if (t0 - t_start < 800) {
		assert_contains(why, "exited with status 3; it is restarted at most once a second");
		assert_true(testutil_now_ms() - t0 < 100);
	}
	while (testutil_now_ms() - t_start < 1100)
		testutil_sleep_ms(20);
	/* A new one started, and died the same way (not the rate limit's message). */
	assert_int_equal(p11_client_list(c, &list, why), ERR_PROTO_CLOSED);
	assert_string_equal(why, "the token helper for fake:die=1 exited with status 3");
	p11_client_stop(c);
	snap_check(&s);
}

static void
test_timeout(void **state)
{
	struct snap s = snap_take();
	struct p11_client *c;
	struct proto_msg *list = NULL;
	struct proto_key_ref ref = { .handle = 1 };
	uint8_t digest[32] = { 2 }, sig[64];
	char why[P11_CLIENT_WHY_MAX];
	long pid, t0, took;

	(void)state;
	c = start("fake:slow-sign=400", 100, NULL);
	pid = p11_client_helper_pid(c);
	t0 = testutil_now_ms();
	assert_int_equal(p11_client_sign(c, &ref, digest, sig, why), ERR_TIMEOUT);
	took = testutil_now_ms() - t0;
	assert_true(took >= 90 && took < 350);
	assert_string_equal(why, "the token helper for fake:slow-sign=400 did not answer SIGN "
	    "within 100 ms");
	/* Its late answer comes and is dropped: the helper is not ended for it. */
	testutil_sleep_ms(500);
	assert_int_equal(p11_client_list(c, &list, why), 0);
	assert_int_equal(desc_number(list, "requests="), 2);
	proto_msg_free(list);
	assert_int_equal(p11_client_helper_pid(c), pid);
	p11_client_stop(c);
	snap_check(&s);
}

/*
 * The caller that reads the socket gives up (its timeout) while another
 * waits: the reading passes to the other, whose answer comes after.
 */
static void
test_reading_handed_on(void **state)
{
	struct snap s = snap_take();
	struct call_arg a, b;
	struct proto_msg *list = NULL;
	pthread_t ta, tb;
	struct p11_client *c;
	char why[P11_CLIENT_WHY_MAX];
	long t0;

	(void)state;
	/* Every answer 700 ms late, a signature's 2200: past the 1000 ms timeout. */
	c = start("fake:slow=700,slow-sign=1500", 1000, NULL);
	/* Calls have just run: the next caller reads for itself. */
	assert_int_equal(p11_client_list(c, &list, why), 0);
	proto_msg_free(list);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.c = b.c = c;
	t0 = testutil_now_ms();
	assert_int_equal(pthread_create(&ta, NULL, slow_sign_main, &a), 0);
	testutil_sleep_ms(500);
	assert_int_equal(pthread_create(&tb, NULL, list_main, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.r, ERR_TIMEOUT);
	/* Its answer came at about 1200 ms, after the sign's reader gave up at 1000. */
	assert_int_equal(b.r, 0);
	assert_true(b.done_ms - t0 >= 1100 && b.done_ms - t0 < 1450);
	p11_client_stop(c);
	snap_check(&s);
}

static void *
timeouts_main(void *arg)
{
	struct call_arg *a = arg;
	struct proto_key_ref ref = { .handle = 2 };
	uint8_t digest[32] = { 3 }, sig[64];
	int i, r;

	for (i = 0; i < 10; i++) {
		r = p11_client_sign(a->c, &ref, digest, sig, a->why);
		if (r != ERR_TIMEOUT && r != ERR_PROTO_CLOSED)
			a->r = r ? r : ERR_INTERNAL;
	}
	return NULL;
}

static void
test_too_many_timeouts(void **state)
{
	struct snap s = snap_take();
	struct call_arg args[4];
	pthread_t th[4];
	struct p11_client *c;
	long pid, t0;
	int i;

	(void)state;
	/* 40 requests left unanswered: a helper that is hung is killed. */
	c = start("fake:slow-sign=3000", 50, NULL);
	pid = p11_client_helper_pid(c);
	for (i = 0; i < 4; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].c = c;
		assert_int_equal(pthread_create(&th[i], NULL, timeouts_main, &args[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].r, 0);
	}
	t0 = testutil_now_ms();
	while (p11_client_helper_pid(c) == pid && testutil_now_ms() - t0 < 3000)
		testutil_sleep_ms(10);
	assert_int_not_equal(p11_client_helper_pid(c), pid);
	p11_client_stop(c);
	assert_reaped(pid);
	snap_check(&s);
}

static void
bad_helper(const char *spec, int sign, const char *expect)
{
	struct p11_client *c;
	struct proto_msg *list = NULL;
	struct proto_key_ref ref = { .handle = 1 };
	uint8_t digest[32] = { 4 }, sig[64];
	char why[P11_CLIENT_WHY_MAX];
	long pid;
	int r;

	c = start(spec, 5000, NULL);
	pid = p11_client_helper_pid(c);
	if (sign)
		r = p11_client_sign(c, &ref, digest, sig, why);
	else
		r = p11_client_list(c, &list, why);
	assert_int_equal(r, ERR_PROTO_CLOSED);
	assert_null(list);
	assert_contains(why, "broke the token protocol");
	assert_contains(why, expect);
	/* The fake would have gone on running: the client killed it. */
	assert_reaped(pid);
	p11_client_stop(c);
}

static void
test_protocol_violations(void **state)
{
	struct snap s = snap_take();

	(void)state;
	bad_helper("fake:garbage=1", 0, "token protocol frame length out of range");
	bad_helper("fake:bogus-id=1", 0, "which was not asked");
	bad_helper("fake:wrong-type=1", 1, "it answered SIGN with LOGIN_RESULT");
	snap_check(&s);
}

static void
test_events(void **state)
{
	struct snap s = snap_take();
	struct events ev;
	struct p11_client *c;
	struct proto_msg *list = NULL;
	char why[P11_CLIENT_WHY_MAX];
	struct timespec deadline;
	int i;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	pthread_mutex_init(&ev.lock, NULL);
	pthread_cond_init(&ev.cv, NULL);
	ev.main_thread = pthread_self();
	c = start("fake:events=5,event-at=2", 5000, &ev);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 3;
	pthread_mutex_lock(&ev.lock);
	while (ev.n < 5)
		if (pthread_cond_timedwait(&ev.cv, &ev.lock, &deadline) == ETIMEDOUT)
			break;
	assert_int_equal(ev.n, 5);
	for (i = 0; i < 5; i++)
		assert_int_equal(ev.kinds[i], 1 + i % 3);
	assert_int_equal(ev.uri_ok, 5);
	assert_int_equal(ev.other_thread, 5);
	/* The next one calls the client from the callback: refused, not a deadlock. */
	ev.c = c;
	pthread_mutex_unlock(&ev.lock);

	assert_int_equal(p11_client_list(c, &list, why), 0);	/* request 1 */
	proto_msg_free(list);
	assert_int_equal(p11_client_list(c, &list, why), 0);	/* 2: the event comes first */
	proto_msg_free(list);
	pthread_mutex_lock(&ev.lock);
	while (ev.n < 6)
		if (pthread_cond_timedwait(&ev.cv, &ev.lock, &deadline) == ETIMEDOUT)
			break;
	assert_int_equal(ev.n, 6);
	assert_int_equal(ev.kinds[5], PROTO_EVENT_KEYS_CHANGED);
	assert_int_equal(ev.call_r, ERR_INVALID_ARGUMENT);
	assert_contains(ev.call_why, "on_event");
	pthread_mutex_unlock(&ev.lock);
	p11_client_stop(c);
	pthread_cond_destroy(&ev.cv);
	pthread_mutex_destroy(&ev.lock);
	snap_check(&s);
}

static void
test_hello_refused(void **state)
{
	struct snap s = snap_take();
	char why[P11_CLIENT_WHY_MAX];
	long t0;

	(void)state;
	/* Answers HELLO_REPLY with another version. */
	assert_int_equal(start_fails(NULL, "fake:hello=4", 5000, why), ERR_PROTO_VERSION);
	assert_contains(why, "speaks token protocol version 4; this program speaks version 3");
	snap_check(&s);
	/* Answers ERROR(ERR_PROTO_VERSION), as p11signer-token does. */
	assert_int_equal(start_fails(NULL, "fake:hello=0", 5000, why), ERR_PROTO_VERSION);
	assert_contains(why, "speaks another token protocol version (it says: the fake helper "
	    "speaks version 1)");
	snap_check(&s);
	/* Never answers. */
	t0 = testutil_now_ms();
	assert_int_equal(start_fails(NULL, "fake:hello-silent=1", 200, why), ERR_TIMEOUT);
	assert_true(testutil_now_ms() - t0 < 1000);
	assert_contains(why, "did not answer HELLO within 200 ms");
	snap_check(&s);
	/* Exits on HELLO, or at once. */
	assert_int_equal(start_fails(NULL, "fake:hello-close=1", 5000, why), ERR_PROTO_CLOSED);
	assert_contains(why, "exited with status 0 before answering HELLO");
	assert_int_equal(start_fails(NULL, "fake:exit=5", 5000, why), ERR_PROTO_CLOSED);
	assert_contains(why, "the token helper for fake:exit=5 exited with status 5 before "
	    "answering HELLO");
	snap_check(&s);
}

/*
 * A token that rejected the configured PIN is remembered across helper
 * restarts: the next helper is told in CONFIGURE (the fake reports how many
 * it was told of), so it does not spend another try.
 */
static void
test_pin_rejected_remembered(void **state)
{
	struct snap s = snap_take();
	struct p11_client *c;
	struct proto_msg *list = NULL;
	char why[P11_CLIENT_WHY_MAX];
	int r = ERR_PROTO_CLOSED, i;

	(void)state;
	/* Says token 0 rejected its PIN; dies on its second request. */
	c = start("fake:auto-rejected=1,die=2", 5000, NULL);
	assert_int_equal(p11_client_list(c, &list, why), 0);
	assert_contains(list->key_list.description, " rejected=0 ");
	assert_true(list->key_list.tokens[0].flags & PROTO_TOKEN_PIN_AUTO_REJECTED);
	proto_msg_free(list);
	list = NULL;
	assert_int_equal(p11_client_list(c, &list, why), ERR_PROTO_CLOSED);
	/* Restarted at most once a second: try for up to 3 s. */
	for (i = 0; i < 30 && r == ERR_PROTO_CLOSED; i++) {
		if ((r = p11_client_list(c, &list, why)) == ERR_PROTO_CLOSED)
			testutil_sleep_ms(100);
	}
	if (r != 0)
		fail_msg("list after the restart: %s (%s)", err_str(r), why);
	assert_contains(list->key_list.description, " rejected=1 ");
	proto_msg_free(list);
	p11_client_stop(c);
	snap_check(&s);
}

/* A token URI over the protocol's cap once %-encoded is refused before a helper starts. */
static void
test_token_uri_too_long(void **state)
{
	struct snap s = snap_take();
	struct p11_client_config cfg;
	struct p11_client *c = NULL;
	char why[P11_CLIENT_WHY_MAX], uri[LIMIT_P11_URI / 2 + 16];
	const char *uris[1];

	(void)state;
	/* 519 bytes, 1039 once its blanks are %-encoded. */
	memset(uri, ' ', sizeof(uri) - 1);
	memcpy(uri, "pkcs11:token=", 13);
	uri[sizeof(uri) - 1] = '\0';
	uris[0] = uri;
	config(&cfg, "fake", 5000, NULL);
	cfg.token_uris = uris;
	assert_int_equal(p11_client_start(&cfg, &c, why), ERR_TOO_LONG);
	assert_null(c);
	assert_string_equal(why, "a --token URI is longer than 1024 bytes (once %-encoded)");
	snap_check(&s);
}

/*
 * The helper takes at most LIMIT_P11_ALLOWED_DIRS --allow: the client refuses
 * more before it starts one, and starts one with that many.
 */
static void
test_allowed_dirs_limit(void **state)
{
	struct snap s = snap_take();
	struct p11_client_config cfg;
	struct p11_client *c = NULL;
	const char *dirs[LIMIT_P11_ALLOWED_DIRS + 1];
	char why[P11_CLIENT_WHY_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < LIMIT_P11_ALLOWED_DIRS + 1; i++)
		dirs[i] = "/usr/lib/";
	config(&cfg, "fake", 5000, NULL);
	cfg.allowed_dirs = dirs;
	cfg.nallowed = LIMIT_P11_ALLOWED_DIRS + 1;
	assert_int_equal(p11_client_start(&cfg, &c, why), ERR_INVALID_ARGUMENT);
	assert_null(c);
	assert_contains(why, "invalid token helper configuration");
	cfg.nallowed = LIMIT_P11_ALLOWED_DIRS;
	assert_int_equal(p11_client_start(&cfg, &c, why), 0);
	assert_non_null(c);
	p11_client_stop(c);
	snap_check(&s);
}

/* A blank in a token URI is %-encoded for CONFIGURE: the helper starts. */
static void
test_token_uri_encoded(void **state)
{
	struct snap s = snap_take();
	struct p11_client_config cfg;
	struct p11_client *c = NULL;
	char why[P11_CLIENT_WHY_MAX];
	const char *uris[1] = { "pkcs11:token=my vault;manufacturer=\xc3\xa9" };

	(void)state;
	config(&cfg, "fake", 5000, NULL);
	cfg.token_uris = uris;
	if (p11_client_start(&cfg, &c, why) != 0)
		fail_msg("start: %s", why);
	p11_client_stop(c);
	snap_check(&s);
}

/* A module that does not open: CONFIGURE is answered with ERROR, and that is the why. */
static void
test_configure_refused(void **state)
{
	struct snap s = snap_take();
	char why[P11_CLIENT_WHY_MAX];

	(void)state;
	assert_int_equal(start_fails(NULL, "fake:configure-refuse=1", 5000, why),
	    ERR_P11_MODULE_LOAD);
	assert_string_equal(why, "the token helper for fake:configure-refuse=1 refused to start: "
	    "cannot open the module: fake refusal");
	snap_check(&s);
}

static void
test_missing_helper(void **state)
{
	struct snap s = snap_take();
	struct p11_client_config cfg;
	struct p11_client *c = NULL;
	char why[P11_CLIENT_WHY_MAX];

	(void)state;
	assert_int_equal(start_fails("/nonexistent/p11signer-token", "fake", 5000, why), ERR_IO);
	assert_string_equal(why, "cannot start the token helper /nonexistent/p11signer-token: "
	    "No such file or directory");
	/* Not a program (a folder: EACCES, root or not). */
	assert_int_equal(start_fails("/", "fake", 5000, why), ERR_IO);
	assert_string_equal(why, "cannot start the token helper /: Permission denied");
	/* A configuration without a module is refused before anything starts. */
	config(&cfg, "fake", 5000, NULL);
	cfg.module = NULL;
	assert_int_equal(p11_client_start(&cfg, &c, why), ERR_INVALID_ARGUMENT);
	assert_null(c);
	snap_check(&s);
}

static void
test_login(void **state)
{
	struct snap s = snap_take();
	struct p11_client *c;
	struct proto_login_result res;
	struct proto_key_ref ref = { .handle = 3 };
	uint8_t digest[32] = { 5 }, sig[64];
	uint8_t pin[4];
	char why[P11_CLIENT_WHY_MAX];

	(void)state;
	c = start("fake:need-login=1,pin=2468", 5000, NULL);
	assert_int_equal(p11_client_sign(c, &ref, digest, sig, why),
	    ERR_P11_NOT_LOGGED_IN);
	assert_string_equal(why, "fake token: log in first");
	memcpy(pin, "1111", 4);
	assert_int_equal(p11_client_login(c, TOKEN0_URI, 0, pin, 4, &res, why), 0);
	assert_int_equal(res.status, PROTO_LOGIN_PIN_INCORRECT);
	assert_false(res.token_flags & PROTO_TOKEN_LOGGED_IN);
	memcpy(pin, "2468", 4);
	assert_int_equal(p11_client_login(c, TOKEN0_URI, PROTO_LOGIN_LOW_TRIES_CONFIRMED, pin, 4,
	    &res, why), 0);
	assert_int_equal(res.status, PROTO_LOGIN_OK);
	assert_true(res.token_flags & PROTO_TOKEN_LOGGED_IN);
	assert_int_equal(p11_client_login(c, TOKEN0_URI, PROTO_LOGIN_PIN_PAD, NULL, 0, &res, why),
	    0);
	assert_int_equal(res.status, PROTO_LOGIN_PIN_NEEDED);
	assert_int_equal(p11_client_sign(c, &ref, digest, sig, why), 0);
	p11_client_stop(c);
	snap_check(&s);
}

static void
test_bad_requests(void **state)
{
	struct snap s = snap_take();
	struct p11_client *c;
	struct proto_msg *reply = NULL, req;
	struct proto_key_ref both = { .handle = 1, .uri = TOKEN0_URI };
	uint8_t digest[32] = { 6 }, sig[64], pin[200];
	struct proto_login_result res;
	char why[P11_CLIENT_WHY_MAX];
	long pid;

	(void)state;
	c = start("fake", 5000, NULL);
	pid = p11_client_helper_pid(c);
	/* Refused by the encoder: nothing is sent, the helper goes on. */
	assert_int_equal(p11_client_sign(c, &both, digest, sig, why),
	    ERR_PROTO_FIELD_VALUE);
	assert_contains(why, "the SIGN request cannot be sent");
	memset(pin, '1', sizeof(pin));
	assert_int_equal(p11_client_login(c, TOKEN0_URI, 0, pin, sizeof(pin), &res, why),
	    ERR_TOO_LONG);
	/* Not requests the client sends. */
	memset(&req, 0, sizeof(req));
	req.type = PROTO_HELLO;
	req.hello.version = 1;
	assert_int_equal(p11_client_call(c, &req, &reply, why), ERR_INVALID_ARGUMENT);
	req.type = PROTO_SIGNATURE;
	assert_int_equal(p11_client_call(c, &req, &reply, why), ERR_INVALID_ARGUMENT);
	assert_null(reply);
	assert_int_equal(p11_client_list(c, &reply, why), 0);
	assert_int_equal(desc_number(reply, "requests="), 1);
	proto_msg_free(reply);
	assert_int_equal(p11_client_helper_pid(c), pid);
	p11_client_stop(c);
	snap_check(&s);
}

static void
test_stop_kills_lingering(void **state)
{
	struct snap s = snap_take();
	struct p11_client *c;
	long pid, t0, took;

	(void)state;
	/* A helper that does not exit at end of file is killed after 2 s. */
	c = start("fake:linger=1", 5000, NULL);
	pid = p11_client_helper_pid(c);
	t0 = testutil_now_ms();
	p11_client_stop(c);
	took = testutil_now_ms() - t0;
	assert_true(took >= 1900 && took < 3500);
	assert_reaped(pid);
	snap_check(&s);
}

static void *
nothing_main(void *arg)
{
	return arg;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_stop),
		cmocka_unit_test(test_list_and_arguments),
		cmocka_unit_test(test_concurrent_signs),
		cmocka_unit_test(test_killed_mid_request),
		cmocka_unit_test(test_killed_socket_held),
		cmocka_unit_test(test_exit_status_and_restart),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_reading_handed_on),
		cmocka_unit_test(test_too_many_timeouts),
		cmocka_unit_test(test_protocol_violations),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_hello_refused),
		cmocka_unit_test(test_missing_helper),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_stop_kills_lingering),
		cmocka_unit_test(test_pin_rejected_remembered),
		cmocka_unit_test(test_configure_refused),
		cmocka_unit_test(test_token_uri_too_long),
		cmocka_unit_test(test_token_uri_encoded),
		cmocka_unit_test(test_allowed_dirs_limit),
	};

	pthread_t warm_up;

	signal(SIGPIPE, SIG_DFL);	/* the client must never raise it */
	/* A sanitizer's own thread starts with the first thread: before any count. */
	if (pthread_create(&warm_up, NULL, nothing_main, NULL) == 0)
		pthread_join(warm_up, NULL);
	return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
