/*
 * fake-token-helper - TEST ONLY.  A stand-in for p11signer-token that speaks
 * the token protocol (docs/token-protocol.md) on fd 0, for
 * tests/unit/test_client.c.  It loads no PKCS#11 code: its keys are canned,
 * computed with libsecp256k1 from fixed test secrets that are in this file
 * for anyone to read.  Never use them for anything but tests.
 *
 *   fake-token-helper --module SPEC [--allow DIR]... [--sessions N]
 *
 * The arguments are p11signer-token's; in place of a module, SPEC says how to
 * behave: "fake", or "fake:OPT=N,OPT=N,..." with these OPTs (N counts the
 * requests after HELLO and CONFIGURE from 1):
 *
 *   die=N          exit with status `status` (default 3) on request N, unanswered
 *   status=S       the exit status for die
 *   farewell=N     on request N, send ERROR with id 0 ("fake farewell") and exit 1
 *   garbage=N      on request N, send a malformed frame (length prefix 3) and
 *                  go on running as if nothing happened
 *   bogus-id=N     answer request N with another request id
 *   wrong-type=N   answer request N with a reply of the wrong type
 *   slow=MS        answer every request after MS milliseconds
 *   slow-sign=MS   answer SIGN after MS more milliseconds
 *   jitter=MS      answer each request after a random 0..MS more milliseconds,
 *                  so answers come out of order (counted: "reordered=" below)
 *   events=K       send K EVENTs right after the answer to CONFIGURE
 *   event-at=N     send an EVENT (KEYS_CHANGED) just before answering request N
 *   linger=1       at end of file on fd 0, do not exit: wait to be killed
 *   holder=MS      start a process that holds fd 0 open for MS ms (as a vendor
 *                  module's daemon might), so the socket outlives the helper
 *   hello=MODE     MODE 0: answer HELLO with ERROR(ERR_PROTO_VERSION) and exit 1;
 *                  MODE V > 0: answer HELLO_REPLY with version V;
 *                  hello-silent=1: never answer HELLO; hello-close=1: exit 0 on HELLO
 *   exit=S         exit with status S at once, before reading anything
 *   need-login=1   SIGN fails with ERR_P11_NOT_LOGGED_IN until a LOGIN succeeds
 *   auto-rejected=1 token 0 says its configured PIN was rejected (PIN_AUTO,
 *                  PIN_AUTO_REJECTED), as p11signer-token does after CKR_PIN_INCORRECT
 *   configure-refuse=1 answer CONFIGURE with ERROR(ERR_P11_MODULE_LOAD) and exit 1,
 *                  as p11signer-token does when its module does not open
 *   pin=DIGITS     the user PIN (default 1234)
 *   flags=F        add the proto_token_flag bits F (decimal) to token 0's flags:
 *                  16 a PIN pad (a PIN_PAD login then succeeds), 32 PIN count
 *                  low, 64 final try, 128 PIN locked
 *   absent-at=N    from request N on, token 0 is out of its slot: listed
 *                  without PRESENT and without keys; SIGN answers
 *                  ERR_P11_TOKEN_REMOVED
 *   lie=MODE       SIGN answers a valid low-s SIGNATURE that is not the one
 *                  asked for: MODE 1 by the next key (handle 1 signs with 2's),
 *                  MODE 2 over the digest with its last bit flipped
 *
 * What it saw is reported in the KEY_LIST's description: "allow=A token=T
 * sessions=S fds=F stdout=null|other sock=1|0 requests=N reordered=R
 * rejected=J argv-uris=U login-flags=L", where token counts CONFIGURE's token URIs,
 * rejected its pin_rejected, argv-uris the arguments holding "pkcs11:" (0:
 * none came on the command line), login-flags the flags of the last LOGIN,
 * and fds its open descriptors at start (3
 * when the daemon closed the rest).
 *
 * Token 0 ("pkcs11:...;token=fake0", slot 1) is present and holds three
 * keys with handles 1..3; token 1 (slot 7) is an empty removable slot.  It
 * exits 0 at end of file on fd 0.  FAKE_TOKEN_HELPER_VERBOSE=1 logs to stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <secp256k1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "eth/addr.h"
#include "core/clock.h"
#include "core/err.h"
#include "eth/keccak.h"
#include "p11/proto.h"

#define NKEYS		3
#define MAX_GENERATED	16
#define MAX_JOBS	1024
#define TOKEN0_URI	"pkcs11:manufacturer=p11signer;model=fake;serial=0001;token=fake0"
#define TOKEN1_URI	"pkcs11:slot-id=7"
#define SEND_MS		5000

struct spec {
	unsigned long die, status, farewell, garbage, bogus_id, wrong_type;
	unsigned long slow, slow_sign, jitter, events, event_at, holder, flags, absent_at, lie;
	long hello;			/* -1: normal */
	int hello_silent, hello_close, need_login, linger, auto_rejected, configure_refuse;
	char pin[64];
};

struct fkey {
	uint8_t seckey[32];
	uint8_t id[1];
	char uri[160];
	char label[32];
	struct proto_key k;
};

struct job {
	struct proto_msg *req;
	struct timespec due;
	unsigned long seq;
};

static struct spec sp = { .status = 3, .hello = -1, .pin = "1234" };
static unsigned nallow, ntoken, sessions, nrejected, argv_uris;
static int start_fds, stdout_null, fd0_sock, verbose, logged_in;
static unsigned long nrequests, reordered, login_flags;
static secp256k1_context *ctx;
static struct fkey keys[NKEYS + MAX_GENERATED];
static size_t nkeys;
static struct job jobs[MAX_JOBS];
static size_t njobs;
static unsigned rand_state = 12345;

static void
log_line(const char *what, const char *detail)
{
	if (verbose)
		fprintf(stderr, "fake-token-helper: %s: %s\n", what, detail);
}

static void
die_usage(const char *why)
{
	fprintf(stderr, "fake-token-helper: %s\n", why);
	exit(2);
}

static void
parse_spec(const char *module)
{
	char buf[512], *save = NULL, *tok;

	if (strncmp(module, "fake", 4) != 0 || (module[4] != '\0' && module[4] != ':'))
		die_usage("--module must be \"fake\" or \"fake:OPT=N,...\"");
	if (module[4] == '\0')
		return;
	if (strlen(module + 5) >= sizeof(buf))
		die_usage("spec too long");
	memcpy(buf, module + 5, strlen(module + 5) + 1);	/* length checked above */
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		unsigned long v;

		if (eq == NULL)
			die_usage("spec option without =");
		*eq++ = '\0';
		if (strcmp(tok, "pin") == 0) {
			snprintf(sp.pin, sizeof(sp.pin), "%s", eq);
			continue;
		}
		v = strtoul(eq, &end, 10);
		if (*eq == '\0' || *end != '\0')
			die_usage("spec value is not a number");
		if (strcmp(tok, "die") == 0) sp.die = v;
		else if (strcmp(tok, "status") == 0) sp.status = v;
		else if (strcmp(tok, "farewell") == 0) sp.farewell = v;
		else if (strcmp(tok, "garbage") == 0) sp.garbage = v;
		else if (strcmp(tok, "bogus-id") == 0) sp.bogus_id = v;
		else if (strcmp(tok, "wrong-type") == 0) sp.wrong_type = v;
		else if (strcmp(tok, "slow") == 0) sp.slow = v;
		else if (strcmp(tok, "slow-sign") == 0) sp.slow_sign = v;
		else if (strcmp(tok, "jitter") == 0) sp.jitter = v;
		else if (strcmp(tok, "events") == 0) sp.events = v;
		else if (strcmp(tok, "event-at") == 0) sp.event_at = v;
		else if (strcmp(tok, "flags") == 0) sp.flags = v & PROTO_TOKEN_FLAGS_ALL;
		else if (strcmp(tok, "absent-at") == 0) sp.absent_at = v;
		else if (strcmp(tok, "lie") == 0) sp.lie = v;
		else if (strcmp(tok, "linger") == 0) sp.linger = v != 0;
		else if (strcmp(tok, "holder") == 0) sp.holder = v;
		else if (strcmp(tok, "hello") == 0) sp.hello = (long)v;
		else if (strcmp(tok, "hello-silent") == 0) sp.hello_silent = v != 0;
		else if (strcmp(tok, "hello-close") == 0) sp.hello_close = v != 0;
		else if (strcmp(tok, "need-login") == 0) sp.need_login = v != 0;
		else if (strcmp(tok, "auto-rejected") == 0) sp.auto_rejected = v != 0;
		else if (strcmp(tok, "configure-refuse") == 0) sp.configure_refuse = v != 0;
		else if (strcmp(tok, "exit") == 0) exit((int)v);
		else die_usage("unknown spec option");
	}
}

/* What the daemon left us: descriptors, stdout, fd 0. */
static void
look_at_start(void)
{
	struct stat st;
	struct dirent *e;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && strtol(e->d_name, NULL, 10) != dirfd(d))
				start_fds++;
		closedir(d);
	}
	stdout_null = fstat(1, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
	fd0_sock = fstat(0, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void
make_key(struct fkey *f, const uint8_t seckey[32], uint32_t handle, const char *label,
    uint8_t id)
{
	secp256k1_pubkey pk;
	size_t n = 65;

	memcpy(f->seckey, seckey, 32);
	if (!secp256k1_ec_seckey_verify(ctx, seckey) ||
	    !secp256k1_ec_pubkey_create(ctx, &pk, seckey) ||
	    !secp256k1_ec_pubkey_serialize(ctx, f->k.pub, &n, &pk, SECP256K1_EC_UNCOMPRESSED))
		die_usage("cannot make a test key");
	eth_addr_from_pubkey(f->k.pub, f->k.addr);
	f->id[0] = id;
	snprintf(f->label, sizeof(f->label), "%s", label);
	snprintf(f->uri, sizeof(f->uri), TOKEN0_URI ";id=%%%02x;object=%s;type=private", id,
	    label);
	f->k.handle = handle;
	f->k.uri = f->uri;
	f->k.label = f->label;
	f->k.id = f->id;
	f->k.id_len = 1;
}

static void
make_keys(void)
{
	char text[64], label[16];
	uint8_t sk[32];
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		/* fixed, public test secrets */
		snprintf(text, sizeof(text), "fake-token-helper test key %zu", i);
		eth_keccak256(text, strlen(text), sk);
		snprintf(label, sizeof(label), "key%zu", i);
		make_key(&keys[i], sk, (uint32_t)(i + 1), label, (uint8_t)(i + 1));
	}
	nkeys = NKEYS;
}

static void
send_msg(const struct proto_msg *m)
{
	struct timespec deadline;
	int r;

	clock_deadline_ms(&deadline, SEND_MS);
	if ((r = proto_send(0, m, &deadline)) != 0) {
		log_line("send", err_str(r));
		exit(r == ERR_PROTO_CLOSED ? 0 : 1);
	}
}

static void
send_error(uint32_t id, int code, const char *message)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_ERROR;
	m.id = id;
	m.error.code = code;
	m.error.message = message;
	send_msg(&m);
}

/* Token 0 has been taken out (absent-at). */
static int
token0_absent(void)
{
	return sp.absent_at != 0 && nrequests >= sp.absent_at;
}

static uint32_t
token0_flags(void)
{
	if (token0_absent())
		return PROTO_TOKEN_REMOVABLE;
	return PROTO_TOKEN_PRESENT | PROTO_TOKEN_INITIALIZED | PROTO_TOKEN_USER_PIN_INITIALIZED |
	    PROTO_TOKEN_LOGIN_REQUIRED | (logged_in ? PROTO_TOKEN_LOGGED_IN : 0) |
	    (sp.auto_rejected ? PROTO_TOKEN_PIN_AUTO | PROTO_TOKEN_PIN_AUTO_REJECTED : 0) |
	    (uint32_t)sp.flags;
}

static struct fkey *
find_key(const struct proto_key_ref *ref)
{
	size_t i;

	for (i = 0; i < nkeys; i++)
		if ((ref->handle != 0 && keys[i].k.handle == ref->handle) ||
		    (ref->handle == 0 && ref->uri != NULL && strcmp(ref->uri, keys[i].uri) == 0))
			return &keys[i];
	return NULL;
}

static void
answer(const struct proto_msg *req, uint32_t id)
{
	struct proto_key klist[NKEYS + MAX_GENERATED];
	struct proto_token toks[2];
	char desc[256];
	struct proto_msg m;
	struct fkey *f;
	size_t i;

	memset(&m, 0, sizeof(m));
	m.id = id;
	switch (req->type) {
	case PROTO_LIST_KEYS:
	case PROTO_CONFIGURE:
		for (i = 0; i < nkeys; i++)
			klist[i] = keys[i].k;
		memset(toks, 0, sizeof(toks));
		toks[0].uri = TOKEN0_URI;
		toks[0].label = "fake0";
		toks[0].manufacturer = "p11signer";
		toks[0].model = "fake";
		toks[0].serial = "0001";
		toks[0].slot_id = 1;
		toks[0].flags = token0_flags();
		toks[0].keys = klist;
		toks[0].nkeys = nkeys;
		toks[1].uri = TOKEN1_URI;
		toks[1].slot_id = 7;
		toks[1].flags = PROTO_TOKEN_REMOVABLE;
		if (token0_absent())
			toks[0].nkeys = 0;
		snprintf(desc, sizeof(desc), "allow=%u token=%u sessions=%u fds=%d stdout=%s sock=%d "
		    "requests=%lu reordered=%lu rejected=%u argv-uris=%u login-flags=%lu", nallow,
		    ntoken, sessions, start_fds, stdout_null ? "null" : "other", fd0_sock, nrequests,
		    reordered, nrejected, argv_uris, login_flags);
		m.type = PROTO_KEY_LIST;
		m.key_list.manufacturer = "p11signer tests";
		m.key_list.description = desc;
		m.key_list.version_major = 1;
		m.key_list.tokens = toks;
		m.key_list.ntokens = 2;
		break;
	case PROTO_KEY_STATUS:
		m.type = PROTO_KEY_STATE;
		if ((f = find_key(&req->key_status.key)) == NULL) {
			m.key_state.state = PROTO_KEY_NOT_FOUND;
		} else {
			m.key_state.handle = f->k.handle;
			m.key_state.state = PROTO_KEY_AVAILABLE;
			m.key_state.token_flags = token0_flags();
		}
		break;
	case PROTO_SIGN: {
		secp256k1_ecdsa_signature sig;
		const uint8_t *seckey;
		uint8_t d[32];

		if (token0_absent()) {
			send_error(id, ERR_P11_TOKEN_REMOVED, "fake token: token removed");
			return;
		}
		if ((f = find_key(&req->sign.key)) == NULL) {
			send_error(id, ERR_P11_KEY_NOT_FOUND, "fake token: no such key");
			return;
		}
		if (sp.need_login && !logged_in) {
			send_error(id, ERR_P11_NOT_LOGGED_IN, "fake token: log in first");
			return;
		}
		seckey = sp.lie == 1 ? keys[(f - keys + 1) % NKEYS].seckey : f->seckey;
		memcpy(d, req->sign.digest, sizeof(d));
		if (sp.lie == 2)
			d[31] ^= 1;
		/* low s, as libsecp256k1 always signs; no recovery id (protocol 3) */
		if (!secp256k1_ecdsa_sign(ctx, &sig, d, seckey, NULL, NULL) ||
		    !secp256k1_ecdsa_signature_serialize_compact(ctx, m.signature.sig, &sig)) {
			send_error(id, ERR_P11_MODULE, "fake token: signing failed");
			return;
		}
		m.type = PROTO_SIGNATURE;
		break;
	}
	case PROTO_GENERATE: {
		uint8_t sk[32];
		char glabel[16];

		if (strcmp(req->generate.token_uri, TOKEN0_URI) != 0) {
			send_error(id, ERR_P11_TOKEN_UNKNOWN, "fake token: no such token");
			return;
		}
		if (nkeys == NKEYS + MAX_GENERATED) {
			send_error(id, ERR_P11_KEYGEN_UNSUPPORTED, "fake token: full");
			return;
		}
		eth_keccak256(req->generate.label, strlen(req->generate.label), sk);
		snprintf(glabel, sizeof(glabel), "gen%zu", nkeys);
		make_key(&keys[nkeys], sk, (uint32_t)(100 + nkeys), glabel, (uint8_t)(100 + nkeys));
		snprintf(keys[nkeys].label, sizeof(keys[nkeys].label), "%.31s", req->generate.label);
		m.type = PROTO_GENERATED;
		m.generated = keys[nkeys].k;
		nkeys++;
		break;
	}
	case PROTO_LOGIN:
		if (strcmp(req->login.token_uri, TOKEN0_URI) != 0) {
			send_error(id, ERR_P11_TOKEN_UNKNOWN, "fake token: no such token");
			return;
		}
		m.type = PROTO_LOGIN_RESULT;
		login_flags = req->login.flags;
		if ((req->login.flags & PROTO_LOGIN_PIN_PAD) &&
		    (token0_flags() & PROTO_TOKEN_PROTECTED_AUTH)) {
			logged_in = 1;	/* the user typed it on the pad */
			m.login_result.status = PROTO_LOGIN_OK;
		} else if (req->login.flags & PROTO_LOGIN_PIN_PAD)
			m.login_result.status = PROTO_LOGIN_PIN_NEEDED;
		else if (logged_in)
			m.login_result.status = PROTO_LOGIN_ALREADY;
		else if (req->login.pin_len == strlen(sp.pin) &&
		    memcmp(req->login.pin, sp.pin, req->login.pin_len) == 0) {
			logged_in = 1;
			m.login_result.status = PROTO_LOGIN_OK;
		} else
			m.login_result.status = PROTO_LOGIN_PIN_INCORRECT;
		m.login_result.token_flags = token0_flags();
		break;
	default:
		send_error(id, ERR_PROTO_UNEXPECTED, "fake token: not a request");
		exit(1);
	}
	send_msg(&m);
}

static long
ms_until(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec + 999999L) / 1000000L;
}

/* Answer the jobs that are due, earliest first. */
static void
answer_due(void)
{
	size_t i, best;
	struct job j;

	for (;;) {
		best = njobs;
		for (i = 0; i < njobs; i++)
			if (ms_until(&jobs[i].due) <= 0 && (best == njobs ||
			    ms_until(&jobs[i].due) < ms_until(&jobs[best].due)))
				best = i;
		if (best == njobs)
			return;
		j = jobs[best];
		jobs[best] = jobs[--njobs];
		for (i = 0; i < njobs; i++)
			if (jobs[i].seq < j.seq) {
				reordered++;
				break;
			}
		answer(j.req, j.req->id);
		proto_msg_free(j.req);
	}
}

static void
send_event(uint8_t kind, uint64_t slot_id)
{
	struct proto_msg r;

	memset(&r, 0, sizeof(r));
	r.type = PROTO_EVENT;
	r.event.kind = kind;
	r.event.slot_id = slot_id;
	r.event.token_uri = TOKEN0_URI;
	send_msg(&r);
}

static void
hello(struct proto_msg *m)
{
	struct proto_msg r;

	if (m->type != PROTO_HELLO) {
		send_error(0, ERR_PROTO_UNEXPECTED, "fake: HELLO first");
		exit(1);
	}
	if (sp.hello_close)
		exit(0);
	if (sp.hello_silent)
		return;
	if (sp.hello == 0 || m->hello.version != PROTO_VERSION) {
		send_error(m->id, ERR_PROTO_VERSION, "the fake helper speaks version 1");
		exit(1);
	}
	memset(&r, 0, sizeof(r));
	r.type = PROTO_HELLO_REPLY;
	r.id = m->id;
	r.hello.version = sp.hello > 0 ? (uint32_t)sp.hello : PROTO_VERSION;
	send_msg(&r);
}

/* CONFIGURE, right after HELLO: answered with the key list at once. */
static void
configure(struct proto_msg *m)
{
	unsigned long i;

	if (m->type != PROTO_CONFIGURE) {
		send_error(0, ERR_PROTO_UNEXPECTED, "fake: CONFIGURE after HELLO");
		exit(1);
	}
	if (sp.configure_refuse) {
		send_error(m->id, ERR_P11_MODULE_LOAD, "cannot open the module: fake refusal");
		exit(1);
	}
	ntoken = (unsigned)m->configure.ntoken_uris;
	nrejected = (unsigned)m->configure.npin_rejected;
	answer(m, m->id);
	for (i = 0; i < sp.events; i++)
		send_event((uint8_t)(1 + i % PROTO_EVENT_KIND_MAX), i);
}

/* One request after HELLO.  Steals m. */
static void
request(struct proto_msg *m)
{
	static const uint8_t garbage[] = { 0, 0, 0, 3, 0x41, 0, 0 };
	unsigned long n = ++nrequests, delay;
	struct proto_msg wrong;

	if (n == sp.die)
		_exit((int)sp.status);
	if (n == sp.event_at)
		send_event(PROTO_EVENT_KEYS_CHANGED, 1);
	if (n == sp.farewell) {
		send_error(0, ERR_P11_MODULE, "fake farewell");
		exit(1);
	}
	if (n == sp.garbage) {
		if (write(0, garbage, sizeof(garbage)) < 0)
			exit(1);
		proto_msg_free(m);
		return;
	}
	if (n == sp.bogus_id) {
		answer(m, m->id ^ 0x80000000u);
		proto_msg_free(m);
		return;
	}
	if (n == sp.wrong_type) {
		memset(&wrong, 0, sizeof(wrong));
		wrong.id = m->id;
		wrong.type = PROTO_LOGIN_RESULT;
		if (m->type == PROTO_LOGIN) {
			wrong.type = PROTO_KEY_STATE;
			wrong.key_state.state = PROTO_KEY_NOT_FOUND;
		}
		send_msg(&wrong);
		proto_msg_free(m);
		return;
	}
	delay = sp.slow + (m->type == PROTO_SIGN ? sp.slow_sign : 0);
	if (sp.jitter > 0) {
		rand_state = rand_state * 1103515245u + 12345u;
		delay += (rand_state >> 16) % (sp.jitter + 1);
	}
	if ((delay == 0 && njobs == 0) || njobs == MAX_JOBS) {
		answer(m, m->id);
		proto_msg_free(m);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &jobs[njobs].due);
	jobs[njobs].due.tv_sec += (time_t)(delay / 1000);
	jobs[njobs].due.tv_nsec += (long)(delay % 1000) * 1000000L;
	if (jobs[njobs].due.tv_nsec >= 1000000000L) {
		jobs[njobs].due.tv_sec++;
		jobs[njobs].due.tv_nsec -= 1000000000L;
	}
	jobs[njobs].req = m;
	jobs[njobs].seq = n;
	njobs++;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "allow", required_argument, NULL, 'a' },
		{ "token", required_argument, NULL, 't' },
		{ "sessions", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct proto_reader *rd = NULL;
	struct proto_msg *m;
	const char *module = NULL;
	int c, r, hello_done = 0;
	long wait;
	size_t i;

	look_at_start();
	verbose = getenv("FAKE_TOKEN_HELPER_VERBOSE") != NULL;
	for (c = 1; c < argc; c++)
		argv_uris += strstr(argv[c], "pkcs11:") != NULL;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm': module = optarg; break;
		case 'a': nallow++; break;
		case 't': break;
		case 's': sessions = (unsigned)strtoul(optarg, NULL, 10); break;
		default: die_usage("usage: fake-token-helper --module SPEC [--allow DIR]... "
		    "[--token URI]... [--sessions N]");
		}
	}
	if (module == NULL || optind != argc)
		die_usage("--module SPEC is required, and nothing else");
	parse_spec(module);
	if (sp.holder > 0) {
		pid_t pid = fork();

		if (pid < 0)
			die_usage("fork");
		if (pid == 0) {
			struct timespec ts = { (time_t)(sp.holder / 1000),
			    (long)(sp.holder % 1000) * 1000000L };

			while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
				;
			_exit(0);
		}
	}
	if ((ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE)) == NULL)
		die_usage("no secp256k1 context");
	make_keys();
	if (proto_reader_new(PROTO_FROM_DAEMON, &rd) != 0)
		die_usage("out of memory");

	for (;;) {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };

		wait = -1;
		for (i = 0; i < njobs; i++) {
			long ms = ms_until(&jobs[i].due);

			if (ms < 0)
				ms = 0;
			if (wait < 0 || ms < wait)
				wait = ms;
		}
		r = poll(&pfd, 1, (int)wait);
		if (r < 0 && errno != EINTR)
			exit(1);
		if (r > 0) {
			r = proto_reader_read(rd, 0);
			if (r == ERR_PROTO_CLOSED)
				break;
			if (r != 0) {
				send_error(0, r, "fake: bad frame");
				exit(1);
			}
			while ((r = proto_reader_next(rd, &m)) == 0 && m != NULL) {
				if (hello_done == 0) {
					hello(m);
					proto_msg_free(m);
					hello_done = 1;
				} else if (hello_done == 1 && !sp.hello_silent) {
					configure(m);
					proto_msg_free(m);
					hello_done = 2;
				} else if (!sp.hello_silent)
					request(m);
				else
					proto_msg_free(m);
			}
			if (r != 0) {
				send_error(0, r, "fake: bad frame");
				exit(1);
			}
		}
		answer_due();
	}
	log_line("end of file", sp.linger ? "waiting to be killed" : "exiting");
	while (sp.linger)
		pause();
	for (i = 0; i < njobs; i++)
		proto_msg_free(jobs[i].req);
	proto_reader_free(rd);
	secp256k1_context_destroy(ctx);
	return 0;
}
