/*
 * p11keys - TEST TOOL: the token layer (src/p11/token.h) from the command
 * line, for tests/integration/token.test.  One process runs its commands in
 * order against one module, so a test can log in, pull a token (through the
 * fault module's control file) and rescan within one set of sessions.
 *
 *   p11keys [OPTIONS] MODULE COMMAND...
 *
 * MODULE is an absolute path, a p11-kit registered name, or "-" (the
 * module-path / module-name of a --uri).  Options:
 *
 *   --allow DIR        allow modules under DIR (repeatable; default
 *                      /usr/lib* and /usr/local/lib*)
 *   --uri URI          select tokens and keys (repeatable; default pkcs11:)
 *   --uri-env VAR      ... the URI in environment variable VAR (one with a
 *                      pin-value stays off the command line)
 *   --sessions N       sessions per token (default 2)
 *   --pin-env VAR      the user PIN is in environment variable VAR (read at
 *                      start, then wiped and unset)
 *   --pin-fd FD        ... or is read from descriptor FD (one line)
 *
 * The PIN is never taken from the command line.  Commands (each prints one
 * line starting with its name, "... error=ERR_NAME (message)" on failure):
 *
 *   list                     "key 0xADDR token=N label=TOKEN pin=STATE point=pub|priv uri=URI"
 *                            per key, then "keys n=N"
 *   tokens                   "token N present=0|1 label=L pin=STATE sessions=N keys=N
 *                            login_error=ERR|none uri=URI" per token
 *   login TOKEN [confirm]    log in with the PIN; TOKEN is a label, a number or a URI;
 *                            confirm: go on despite a low try count
 *   login-pad TOKEN [confirm]   log in on the PIN pad
 *   sign KEY DIGEST          KEY is 0x+address or a pkcs11: URI, DIGEST 64 hex
 *                            digits; "sign ok sig=R||S||V ms=T", V found as the
 *                            daemon finds it (recovered to the address), or
 *                            "sign error=ERR_SIG_RECOVERY" when it does not recover
 *   sign-many THREADS COUNT KEY...
 *                            COUNT random digests over THREADS threads, thread
 *                            i signing with KEY[i % nkeys]; one line
 *                            "tsig DIGEST R||S V" per signature (V -1: it does
 *                            not recover to the address), then
 *                            "sign-many ok=N failed=N low=N recovered=N ms=T [errors=...]"
 *   keygen TOKEN LABEL|- IDHEX|-   "keygen ok address=0x.. id=HEX uri=URI"
 *                            ("-": derived from the key)
 *   state KEY                "state ok token=N" or the error
 *   find URI                 "find 0xADDR"
 *   rescan                   "rescan ok"
 *   wait MS                  "wait event" or the error (ERR_TIMEOUT, ERR_P11_NO_SLOT_EVENTS)
 *   ctl LINE                 rewrite $P11FAULT_CTL atomically (the fault module's control)
 *   sleep MS
 *
 * Exit status: 0 when every command succeeded, 1 when one failed, 2 on a
 * usage error or when the module cannot be opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "eth/addr.h"
#include "core/err.h"
#include "eth/hex.h"
#include "core/limits.h"
#include "eth/sig.h"
#include "p11/token.h"

#define MAX_LIST 64

static struct p11_module *mod;
static uint8_t user_pin[LIMIT_P11_PIN + 2];
static size_t user_pin_len;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void
hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
fail(const char *cmd, int r)
{
	printf("%s error=%s (%s)\n", cmd, err_name(r), err_str(r));
	return 1;
}

static const char *
pin_state_str(unsigned s, char *buf, size_t cap)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ P11_PIN_LOGIN_REQUIRED, "login_required" }, { P11_PIN_LOGGED_IN, "logged_in" },
		{ P11_PIN_PAD, "pad" }, { P11_PIN_COUNT_LOW, "count_low" },
		{ P11_PIN_FINAL_TRY, "final_try" }, { P11_PIN_LOCKED, "locked" },
		{ P11_PIN_TO_BE_CHANGED, "to_be_changed" }, { P11_PIN_AUTO, "auto" },
		{ P11_PIN_AUTO_REJECTED, "auto_rejected" },
	};
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (s & names[i].bit)
			len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? "," : "",
			    names[i].name);
	if (len == 0)
		snprintf(buf, cap, "none");
	return buf;
}

/* KEY: 0x + 40 hex digits, or a pkcs11: URI. */
static int
key_arg(const char *arg, uint8_t addr[20])
{
	if (strncmp(arg, "pkcs11:", 7) == 0)
		return p11_token_find_uri(mod, arg, addr);
	return eth_addr_parse(arg, strlen(arg), addr, NULL);
}

/* TOKEN: a URI, a number, or a label. */
static int
token_arg(const char *arg, unsigned *tokenp)
{
	struct p11_token_info *tokens = NULL;
	size_t n, i;
	char *end;
	unsigned long v;
	int r;

	if (strncmp(arg, "pkcs11:", 7) == 0)
		return p11_token_find_token(mod, arg, tokenp);
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (*arg != '\0' && *end == '\0' && errno == 0 && v <= 0xffffu) {
		*tokenp = (unsigned)v;
		return 0;
	}
	if ((r = p11_token_list_tokens(mod, &tokens, &n)) != 0)
		return r;
	r = ERR_P11_TOKEN_UNKNOWN;
	for (i = 0; i < n; i++) {
		if (strcmp(tokens[i].label, arg) == 0) {
			*tokenp = tokens[i].token;
			r = 0;
			break;
		}
	}
	free(tokens);
	return r;
}

/* The public key of the listed key whose address is addr. */
static int
key_pub(const uint8_t addr[20], uint8_t pub[65])
{
	struct p11_key *keys;
	size_t n, i;
	int r;

	if ((r = p11_token_list_keys(mod, &keys, &n)) != 0)
		return r;
	r = ERR_P11_KEY_NOT_FOUND;
	for (i = 0; i < n && r != 0; i++)
		if (memcmp(keys[i].address, addr, 20) == 0) {
			memcpy(pub, keys[i].pubkey, 65);
			r = 0;
		}
	p11_token_keys_free(keys, n);
	return r;
}

static int
cmd_list(void)
{
	struct p11_key *keys;
	char a[41], st[160];
	size_t n, i;
	int r;

	if ((r = p11_token_list_keys(mod, &keys, &n)) != 0)
		return fail("list", r);
	for (i = 0; i < n; i++) {
		hex(keys[i].address, 20, a);
		printf("key 0x%s token=%u label=%s pin=%s point=%s uri=%s\n", a, keys[i].token,
		    keys[i].token_label, pin_state_str(keys[i].pin_state, st, sizeof(st)),
		    keys[i].on_private ? "priv" : "pub", keys[i].uri);
	}
	printf("keys n=%zu\n", n);
	p11_token_keys_free(keys, n);
	return 0;
}

static int
cmd_tokens(void)
{
	struct p11_token_info *t;
	char st[160];
	size_t n, i;
	int r;

	if ((r = p11_token_list_tokens(mod, &t, &n)) != 0)
		return fail("tokens", r);
	for (i = 0; i < n; i++)
		printf("token %u present=%d label=%s pin=%s sessions=%u keys=%u login_error=%s uri=%s\n",
		    t[i].token, t[i].present, t[i].label,
		    pin_state_str(t[i].pin_state, st, sizeof(st)), t[i].sessions, t[i].keys,
		    t[i].login_error ? err_name(t[i].login_error) : "none", t[i].uri);
	printf("tokens n=%zu\n", n);
	free(t);
	return 0;
}

static int
cmd_login(const char *tok, int pad, int confirm)
{
	uint8_t pin[LIMIT_P11_PIN + 2];
	const char *name = pad ? "login-pad" : "login";
	unsigned token, flags = confirm ? P11_LOGIN_LOW_TRIES_CONFIRMED : 0;
	int r;

	if ((r = token_arg(tok, &token)) != 0)
		return fail(name, r);
	if (pad)
		r = p11_token_login_pad(mod, token, flags);
	else if (user_pin_len == 0)
		r = ERR_P11_NOT_LOGGED_IN;
	else {
		/* p11_token_login wipes what it is given: a copy, kept for later logins. */
		memcpy(pin, user_pin, user_pin_len);
		r = p11_token_login(mod, token, flags, pin, user_pin_len);
		explicit_bzero(pin, sizeof(pin));
	}
	if (r != 0)
		return fail(name, r);
	printf("%s ok\n", name);
	return 0;
}

static int
cmd_sign(const char *key, const char *digest_hex)
{
	uint8_t addr[20], digest[32], sig[65], pub[65];
	char s[131];
	long t0;
	int r, recid;

	if ((r = key_arg(key, addr)) != 0)
		return fail("sign", r);
	if (strlen(digest_hex) != 64) {
		printf("sign error=usage (DIGEST is 64 hex digits)\n");
		return 1;
	}
	{
		char buf[67] = "0x";

		memcpy(buf + 2, digest_hex, 65);
		if ((r = eth_hex_decode_fixed(buf, 66, digest, 32)) != 0)
			return fail("sign", r);
	}
	t0 = now_ms();
	/* The token layer gives r || s; v is found as the daemon finds it. */
	if ((r = p11_token_sign(mod, addr, digest, sig)) == 0 && (r = key_pub(addr, pub)) == 0)
		r = eth_sig_verify_addr(digest, sig, pub, addr, &recid);
	if (r != 0) {
		printf("sign error=%s (%s) ms=%ld\n", err_name(r), err_str(r), now_ms() - t0);
		return 1;
	}
	sig[64] = (uint8_t)recid;
	hex(sig, 65, s);
	printf("sign ok sig=%s ms=%ld\n", s, now_ms() - t0);
	return 0;
}

struct many {
	const uint8_t (*addrs)[20];
	const uint8_t (*pubs)[65];
	size_t naddrs;
	unsigned thread;
	unsigned count;
	unsigned ok, failed, low, recovered;
	int errs[8];
	unsigned nerrs[8];
};

static void *
many_main(void *arg)
{
	struct many *w = arg;
	const uint8_t *addr = w->addrs[w->thread % w->naddrs];
	const uint8_t *pub = w->pubs[w->thread % w->naddrs];
	uint8_t digest[32], sig[64];
	char dh[65], sh[129];
	unsigned i, e;
	int r, recid;

	for (i = 0; i < w->count; i++) {
		if (getrandom(digest, sizeof(digest), 0) != (ssize_t)sizeof(digest))
			abort();
		if ((r = p11_token_sign(mod, addr, digest, sig)) != 0) {
			w->failed++;
			for (e = 0; e < 8 && w->nerrs[e] != 0 && w->errs[e] != r; e++)
				;
			if (e < 8) {
				w->errs[e] = r;
				w->nerrs[e]++;
			}
			continue;
		}
		w->ok++;
		w->low += (unsigned)eth_sig_is_low_s(sig);
		w->recovered += eth_sig_verify_addr(digest, sig, pub, addr, &recid) == 0;
		hex(digest, 32, dh);
		hex(sig, 64, sh);
		pthread_mutex_lock(&out_lock);
		printf("tsig %s %s %d\n", dh, sh, recid);
		pthread_mutex_unlock(&out_lock);
	}
	return NULL;
}

static int
cmd_sign_many(unsigned threads, unsigned count, char **keys, size_t nkeys)
{
	uint8_t (*addrs)[20] = NULL, (*pubs)[65] = NULL;
	struct many *w = NULL;
	pthread_t *tids = NULL;
	unsigned i, ok = 0, failed = 0, low = 0, recovered = 0, e, started = 0;
	long t0;
	int r, rc = 1;

	if (threads == 0 || threads > 64 || nkeys == 0 || count > 1000000) {
		printf("sign-many error=usage\n");
		return 1;
	}
	addrs = calloc(nkeys, sizeof(*addrs));
	pubs = calloc(nkeys, sizeof(*pubs));
	w = calloc(threads, sizeof(*w));
	tids = calloc(threads, sizeof(*tids));
	if (addrs == NULL || pubs == NULL || w == NULL || tids == NULL) {
		rc = fail("sign-many", ERR_NOMEM);
		goto out;
	}
	for (i = 0; i < nkeys; i++) {
		if ((r = key_arg(keys[i], addrs[i])) != 0 || (r = key_pub(addrs[i], pubs[i])) != 0) {
			rc = fail("sign-many", r);
			goto out;
		}
	}
	t0 = now_ms();
	for (i = 0; i < threads; i++) {
		w[i].addrs = (const uint8_t (*)[20])addrs;
		w[i].pubs = (const uint8_t (*)[65])pubs;
		w[i].naddrs = nkeys;
		w[i].thread = i;
		w[i].count = count / threads + (i < count % threads);
		if (pthread_create(&tids[i], NULL, many_main, &w[i]) != 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	for (i = 0; i < started; i++) {
		ok += w[i].ok;
		failed += w[i].failed;
		low += w[i].low;
		recovered += w[i].recovered;
	}
	printf("sign-many ok=%u failed=%u low=%u recovered=%u ms=%ld", ok, failed, low,
	    recovered, now_ms() - t0);
	for (i = 0; i < started; i++)
		for (e = 0; e < 8 && w[i].nerrs[e] != 0; e++)
			printf(" error=%s:%u", err_name(w[i].errs[e]), w[i].nerrs[e]);
	printf("\n");
	rc = started == threads && failed == 0 ? 0 : 1;
 out:
	free(addrs);
	free(pubs);
	free(w);
	free(tids);
	return rc;
}

static int
cmd_keygen(const char *tok, const char *label, const char *idhex)
{
	struct p11_key *k = NULL;
	uint8_t *id = NULL;
	size_t id_len = 0;
	char a[41], idh[2 * LIMIT_P11_KEY_ID + 1];
	unsigned token;
	int r;

	if ((r = token_arg(tok, &token)) != 0)
		return fail("keygen", r);
	if (strcmp(label, "-") == 0)
		label = NULL;
	if (strcmp(idhex, "-") != 0) {
		char *buf = malloc(strlen(idhex) + 3);

		if (buf == NULL)
			return fail("keygen", ERR_NOMEM);
		snprintf(buf, strlen(idhex) + 3, "0x%s", idhex);
		r = eth_hex_decode(buf, strlen(buf), LIMIT_P11_KEY_ID, &id, &id_len);
		free(buf);
		if (r != 0)
			return fail("keygen", r);
	}
	r = p11_token_keygen(mod, token, label, id, id_len, &k);
	free(id);
	if (r != 0)
		return fail("keygen", r);
	hex(k->address, 20, a);
	hex(k->id, k->id_len, idh);
	printf("keygen ok address=0x%s id=%s uri=%s\n", a, idh, k->uri);
	p11_token_keys_free(k, 1);
	return 0;
}

/* The fault module's control file, replaced atomically as p11fault_set does. */
static int
cmd_ctl(const char *line)
{
	const char *path = getenv("P11FAULT_CTL");
	char tmp[4096];
	FILE *f;

	if (path == NULL || snprintf(tmp, sizeof(tmp), "%s.p11keys.%ld", path,
	    (long)getpid()) >= (int)sizeof(tmp)) {
		printf("ctl error=no P11FAULT_CTL\n");
		return 1;
	}
	if ((f = fopen(tmp, "w")) == NULL) {
		printf("ctl error=%s\n", strerror(errno));
		return 1;
	}
	if (line[0] != '\0')
		fprintf(f, "%s\n", line);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		printf("ctl error=%s\n", strerror(errno));
		return 1;
	}
	printf("ctl ok\n");
	return 0;
}

static int
pin_from_env(const char *var)
{
	char *v = getenv(var);
	size_t n;

	if (v == NULL || (n = strlen(v)) == 0 || n > LIMIT_P11_PIN)
		return -1;
	memcpy(user_pin, v, n);
	user_pin_len = n;
	explicit_bzero(v, n);
	unsetenv(var);
	return 0;
}

static int
pin_from_fd(int fd)
{
	size_t n = 0;
	ssize_t got;

	while (n < sizeof(user_pin)) {
		got = read(fd, user_pin + n, sizeof(user_pin) - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
		if (memchr(user_pin, '\n', n) != NULL)
			break;
	}
	close(fd);
	if (memchr(user_pin, '\n', n) != NULL)
		n = (size_t)((uint8_t *)memchr(user_pin, '\n', n) - user_pin);
	if (n == 0 || n > LIMIT_P11_PIN) {
		explicit_bzero(user_pin, sizeof(user_pin));
		return -1;
	}
	user_pin_len = n;
	return 0;
}

static int
usage(void)
{
	fprintf(stderr, "usage: p11keys [--allow DIR]... [--uri URI | --uri-env VAR]... [--sessions N]\n"
	    "       [--pin-env VAR | --pin-fd FD] MODULE|- COMMAND...\n");
	return 2;
}

static unsigned
num(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	return *s != '\0' && *end == '\0' && v < 100000000ul ? (unsigned)v : 0;
}

int
main(int argc, char **argv)
{
	struct p11_module_config cfg;
	const char *allowed[LIMIT_P11_ALLOWED_DIRS + 1], *uris[LIMIT_P11_URIS + 1];
	struct rlimit no_core = { 0, 0 };
	size_t nallowed = 0, nuris = 0;
	int i, r, failed = 0;

	/* It holds a PIN: no core dumps, no ptrace.  (LeakSanitizer needs ptrace.) */
	setrlimit(RLIMIT_CORE, &no_core);
#ifndef __SANITIZE_ADDRESS__
	prctl(PR_SET_DUMPABLE, 0);
#endif
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&cfg, 0, sizeof(cfg));
	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--allow") == 0 && nallowed < LIMIT_P11_ALLOWED_DIRS)
			allowed[nallowed++] = argv[++i];
		else if (strcmp(argv[i], "--uri") == 0 && nuris < LIMIT_P11_URIS)
			uris[nuris++] = argv[++i];
		else if (strcmp(argv[i], "--uri-env") == 0 && nuris < LIMIT_P11_URIS) {
			if ((uris[nuris++] = getenv(argv[++i])) == NULL) {
				fprintf(stderr, "p11keys: no URI in $%s\n", argv[i]);
				return 2;
			}
		}
		else if (strcmp(argv[i], "--sessions") == 0)
			cfg.sessions_per_token = num(argv[++i]);
		else if (strcmp(argv[i], "--pin-env") == 0) {
			if (pin_from_env(argv[++i]) != 0) {
				fprintf(stderr, "p11keys: no PIN in $%s\n", argv[i]);
				return 2;
			}
		} else if (strcmp(argv[i], "--pin-fd") == 0) {
			if (pin_from_fd((int)num(argv[++i])) != 0) {
				fprintf(stderr, "p11keys: no PIN on descriptor %s\n", argv[i]);
				return 2;
			}
		} else
			return usage();
	}
	if (i >= argc)
		return usage();
	allowed[nallowed] = NULL;
	uris[nuris] = NULL;
	cfg.module = strcmp(argv[i], "-") == 0 ? NULL : argv[i];
	cfg.allowed_dirs = nallowed > 0 ? allowed : NULL;
	cfg.uris = nuris > 0 ? uris : NULL;
	i++;

	if ((r = p11_token_open(&cfg, &mod)) != 0) {
		printf("open error=%s (%s)\n", err_name(r), err_str(r));
		explicit_bzero(user_pin, sizeof(user_pin));
		return 2;
	}
	printf("open ok\n");
	while (i < argc) {
		const char *c = argv[i++];
		int has1 = i < argc, has2 = i + 1 < argc;

		if (strcmp(c, "list") == 0)
			failed |= cmd_list();
		else if (strcmp(c, "tokens") == 0)
			failed |= cmd_tokens();
		else if ((strcmp(c, "login") == 0 || strcmp(c, "login-pad") == 0) && has1) {
			int confirm = has2 && strcmp(argv[i + 1], "confirm") == 0;

			failed |= cmd_login(argv[i], c[5] == '-', confirm);
			i += 1 + confirm;
		} else if (strcmp(c, "sign") == 0 && has2) {
			failed |= cmd_sign(argv[i], argv[i + 1]);
			i += 2;
		} else if (strcmp(c, "sign-many") == 0 && i + 2 < argc) {
			int first = i + 2, last = first;

			while (last < argc && (strncmp(argv[last], "0x", 2) == 0 ||
			    strncmp(argv[last], "pkcs11:", 7) == 0))
				last++;
			failed |= cmd_sign_many(num(argv[i]), num(argv[i + 1]), argv + first,
			    (size_t)(last - first));
			i = last;
		} else if (strcmp(c, "keygen") == 0 && i + 2 < argc) {
			failed |= cmd_keygen(argv[i], argv[i + 1], argv[i + 2]);
			i += 3;
		} else if (strcmp(c, "state") == 0 && has1) {
			uint8_t addr[20];
			unsigned token = 0;

			if ((r = key_arg(argv[i++], addr)) == 0)
				r = p11_token_key_state(mod, addr, &token);
			if (r != 0)
				failed |= fail("state", r);
			else
				printf("state ok token=%u\n", token);
		} else if (strcmp(c, "find") == 0 && has1) {
			uint8_t addr[20];
			char a[41];

			if ((r = p11_token_find_uri(mod, argv[i++], addr)) != 0)
				failed |= fail("find", r);
			else {
				hex(addr, 20, a);
				printf("find 0x%s\n", a);
			}
		} else if (strcmp(c, "rescan") == 0) {
			if ((r = p11_token_rescan(mod)) != 0)
				failed |= fail("rescan", r);
			else
				printf("rescan ok\n");
		} else if (strcmp(c, "wait") == 0 && has1) {
			long t0 = now_ms();

			if ((r = p11_token_wait_event(mod, (int)num(argv[i++]))) != 0) {
				printf("wait error=%s (%s) ms=%ld\n", err_name(r), err_str(r),
				    now_ms() - t0);
				failed = 1;
			} else
				printf("wait event ms=%ld\n", now_ms() - t0);
		} else if (strcmp(c, "ctl") == 0 && has1)
			failed |= cmd_ctl(argv[i++]);
		else if (strcmp(c, "sleep") == 0 && has1) {
			unsigned ms = num(argv[i++]);
			struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		} else {
			fprintf(stderr, "p11keys: unknown command or missing argument: %s\n", c);
			failed = 2;
			break;
		}
	}
	p11_token_close(mod);
	explicit_bzero(user_pin, sizeof(user_pin));
	printf("close ok\n");
	return failed;
}
