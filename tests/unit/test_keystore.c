/*
 * The keystore (src/signer/keystore.c): every module's token helper behind
 * one struct signer_keys.
 *
 * Two token layers.  SoftHSM2 in a temporary directory (its own
 * SOFTHSM2_CONF, PINs drawn from /dev/urandom, a secp256k1 key made with
 * pkcs11-tool) behind the real p11signer-token: listing, signing, the PIN
 * dialogue (asked, rejected, none given, none can be asked), a key deleted
 * behind the signer's back, new keys.  tests/tools/fake-token-helper for what
 * SoftHSM2 cannot do: a PIN pad, low and final PIN tries, a locked PIN, a
 * configured PIN the token rejected, a token taken out, a helper that dies,
 * one key reached through two modules.
 *
 * Signatures are checked with libsecp256k1 directly: r || s from the
 * keystore recovers, with one of the two recovery ids, to the key that the
 * listing named.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "core/err.h"
#include "eth/addr.h"
#include "eth/keccak.h"
#include "p11/client.h"
#include "signer/keystore.h"
#include "testutil.h"

#define SOFTHSM_MODULE	"/usr/lib/softhsm/libsofthsm2.so"
#define HSM_LABEL	"keystore"
#define FAKE0_URI	"pkcs11:manufacturer=p11signer;model=fake;serial=0001;token=fake0"
#define FAKE0_KEYS	3
#define FLAG_PIN_PAD	16	/* PROTO_TOKEN_PROTECTED_AUTH, as fake-token-helper's flags= */
#define FLAG_COUNT_LOW	32
#define FLAG_FINAL_TRY	64

static secp256k1_context *ctx;

/* ---- the pin source: scripted, and what it was asked ---- */

static struct {
	const char *answer;	/* NULL: refuse (ERR_TIMEOUT, as a UI that gave up) */
	int asks, notices;
	char token[80], note[160], notice[160];
} pin;

static int
ask_pin(void *c, const char *token, const char *note, uint8_t *out, size_t max, size_t *lenp)
{
	size_t n;

	pin.asks++;
	snprintf(pin.token, sizeof(pin.token), "%s", token);
	snprintf(pin.note, sizeof(pin.note), "%s", note);
	if (pin.answer == NULL)
		return ERR_TIMEOUT;
	n = strlen(pin.answer);
	assert_true(n <= max);
	memcpy(out, pin.answer, n);
	*lenp = n;
	return 0;
}

static void
notice(void *c, const char *text)
{
	pin.notices++;
	snprintf(pin.notice, sizeof(pin.notice), "%s", text);
}

static const struct signer_pin_source pins = { NULL, ask_pin, notice };

static void
pin_reset(const char *answer)
{
	memset(&pin, 0, sizeof(pin));
	pin.answer = answer;
}

/* ---- keys and signatures ---- */

/* The accounts' addresses, parsed; returns how many (at most max). */
static size_t
list_addrs(const struct signer_keys *k, uint8_t addrs[][ETH_ADDR_LEN], size_t max)
{
	char why[SIGNER_WHY_MAX] = "";
	json_t *accounts = NULL, *a;
	size_t i;
	int r;

	r = k->list(k->ctx, &accounts, why);
	if (r != 0)
		fail_msg("list: %s (%s)", err_str(r), why);
	assert_true(json_is_array(accounts));
	assert_true(json_array_size(accounts) <= max);
	json_array_foreach(accounts, i, a) {
		const char *s = json_string_value(json_object_get(a, "address"));
		const char *url = json_string_value(json_object_get(a, "url"));

		assert_non_null(s);
		assert_non_null(url);
		assert_int_equal(strncmp(url, "pkcs11:", 7), 0);
		/* listed as EIP-55, which parses back with its checksum checked */
		assert_int_equal(eth_addr_parse(s, strlen(s), addrs[i], NULL), 0);
	}
	i = json_array_size(accounts);
	json_decref(accounts);
	return i;
}

/*
 * Is sig64 a low-s signature over digest by the key at addr?  By
 * libsecp256k1 directly: recovered with either recovery id (the keystore
 * gives none), verified, and hashed to an address.
 */
static int
signed_by(const uint8_t digest[32], const uint8_t sig64[64], const uint8_t addr[ETH_ADDR_LEN])
{
	secp256k1_ecdsa_recoverable_signature sig;
	secp256k1_ecdsa_signature plain;
	secp256k1_pubkey pk;
	uint8_t pub[65], got[ETH_ADDR_LEN];
	size_t n;
	int recid, found = 0;

	/* low s: normalizing changes nothing */
	assert_true(secp256k1_ecdsa_signature_parse_compact(ctx, &plain, sig64));
	assert_false(secp256k1_ecdsa_signature_normalize(ctx, NULL, &plain));
	for (recid = 0; recid <= 1 && !found; recid++) {
		n = sizeof(pub);
		if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &sig, sig64, recid) ||
		    !secp256k1_ecdsa_recover(ctx, &pk, &sig, digest))
			continue;
		assert_true(secp256k1_ecdsa_verify(ctx, &plain, digest, &pk));
		assert_true(secp256k1_ec_pubkey_serialize(ctx, pub, &n, &pk,
		    SECP256K1_EC_UNCOMPRESSED));
		eth_addr_from_pubkey(pub, got);
		found = memcmp(got, addr, ETH_ADDR_LEN) == 0;
	}
	return found;
}

/* Sign a fixed digest with addr; 0 or the error (why filled). */
static int
sign_with(const struct signer_keys *k, const uint8_t addr[ETH_ADDR_LEN],
    char why[SIGNER_WHY_MAX])
{
	uint8_t digest[32], sig64[64], pub[65], pub_addr[ETH_ADDR_LEN];
	int r;

	eth_keccak256("keystore test digest", 20, digest);
	why[0] = '\0';
	r = k->sign(k->ctx, addr, digest, sig64, pub, why);
	if (r == 0) {
		assert_true(signed_by(digest, sig64, addr));
		/* the key's public key, as listed, comes with its signature */
		assert_int_equal(eth_addr_from_pubkey(pub, pub_addr), 0);
		assert_memory_equal(pub_addr, addr, ETH_ADDR_LEN);
	}
	return r;
}

static void
assert_signs(const struct signer_keys *k, const uint8_t addr[ETH_ADDR_LEN])
{
	char why[SIGNER_WHY_MAX];
	int r = sign_with(k, addr, why);

	if (r != 0)
		fail_msg("sign: %s (%s)", err_str(r), why);
}

static void
assert_sign_fails(const struct signer_keys *k, const uint8_t addr[ETH_ADDR_LEN], int want,
    const char *why_part)
{
	char why[SIGNER_WHY_MAX];
	int r = sign_with(k, addr, why);

	if (r != want)
		fail_msg("sign: %s (%s), want %s", err_str(r), why, err_str(want));
	if (why_part != NULL && strstr(why, why_part) == NULL)
		fail_msg("sign: why \"%s\" does not say \"%s\"", why, why_part);
}

/* ---- clients ---- */

static struct p11_client *
start_client(const char *helper, const char *module)
{
	struct p11_client_config cfg;
	struct p11_client *c = NULL;
	char why[P11_CLIENT_WHY_MAX];
	int r;

	memset(&cfg, 0, sizeof(cfg));
	cfg.helper_path = helper;
	cfg.module = module;
	cfg.timeout_ms = 20000;
	if ((r = p11_client_start(&cfg, &c, why)) != 0)
		fail_msg("start %s %s: %s (%s)", helper, module, err_str(r), why);
	return c;
}

/* A keystore over one fake helper that behaves as spec says. */
struct fake {
	struct p11_client *client;
	struct signer_keystore *ks;
	struct signer_keys k;
	uint8_t addrs[FAKE0_KEYS + 4][ETH_ADDR_LEN];
	size_t n;
};

static void
fake_open(struct fake *f, const char *spec, const struct signer_pin_source *src)
{
	memset(f, 0, sizeof(*f));
	f->client = start_client(testutil_build_program("tests/tools/fake-token-helper"), spec);
	assert_int_equal(signer_keystore_new(&f->client, 1, src, &f->ks), 0);
	f->k = signer_keystore_keys(f->ks);
	f->n = list_addrs(&f->k, f->addrs, FAKE0_KEYS + 4);
}

static void
fake_close(struct fake *f)
{
	signer_keystore_free(f->ks);
	p11_client_stop(f->client);
}

/* The flags of token 0's last LOGIN, from the helper's KEY_LIST description. */
static long
fake_login_flags(struct fake *f)
{
	struct proto_msg *list = NULL;
	char why[P11_CLIENT_WHY_MAX];
	const char *p;
	long v;

	assert_int_equal(p11_client_list(f->client, &list, why), 0);
	p = strstr(list->key_list.description, "login-flags=");
	assert_non_null(p);
	v = strtol(p + 12, NULL, 10);
	proto_msg_free(list);
	return v;
}

/* ---- the fake helper ---- */

static void
test_fake_list_and_sign(void **state)
{
	struct fake f;
	uint8_t nobody[ETH_ADDR_LEN];
	size_t i;

	(void)state;
	pin_reset(NULL);
	fake_open(&f, "fake", &pins);
	assert_int_equal(f.n, FAKE0_KEYS);
	for (i = 0; i < f.n; i++)
		assert_signs(&f.k, f.addrs[i]);
	memset(nobody, 0x42, sizeof(nobody));
	assert_sign_fails(&f.k, nobody, ERR_P11_KEY_NOT_FOUND, NULL);
	assert_int_equal(pin.asks, 0);
	fake_close(&f);
	signer_keystore_free(NULL);
}

/* Not logged in: the PIN is asked for once, with the token's label, and the sign retried. */
static void
test_fake_pin_asked(void **state)
{
	struct fake f;
	char why[SIGNER_WHY_MAX];

	(void)state;
	pin_reset("1234");
	fake_open(&f, "fake:need-login=1", &pins);
	assert_signs(&f.k, f.addrs[0]);
	assert_int_equal(pin.asks, 1);
	assert_string_equal(pin.token, "fake0");
	assert_string_equal(pin.note, "");
	/* logged in now: not asked again */
	assert_int_equal(sign_with(&f.k, f.addrs[1], why), 0);
	assert_int_equal(pin.asks, 1);
	assert_int_equal(fake_login_flags(&f), 0);
	fake_close(&f);
}

/* A wrong PIN is reported and never retried on its own. */
static void
test_fake_pin_rejected(void **state)
{
	struct fake f;

	(void)state;
	pin_reset("9999");
	fake_open(&f, "fake:need-login=1", &pins);
	assert_sign_fails(&f.k, f.addrs[0], ERR_P11_PIN_INCORRECT, "token \"fake0\" rejected the PIN");
	assert_int_equal(pin.asks, 1);
	/* the next request asks again (once); with the right PIN it signs */
	pin.answer = "1234";
	assert_signs(&f.k, f.addrs[0]);
	assert_int_equal(pin.asks, 2);
	fake_close(&f);
}

/*
 * Signs that must fail, each on a new helper: the error, what its why says,
 * and whether the PIN was asked for.  Never a signature.
 */
static void
test_fake_sign_refused(void **state)
{
	static const struct signer_pin_source no_source = { NULL, NULL, NULL };
	static const struct {
		const char *what, *spec;
		int ask;		/* a pin source that answers NULL (gives none) */
		int want;
		const char *why;
		int asks;
	} cases[] = {
		{ "no PIN given", "fake:need-login=1", 1, ERR_P11_NOT_LOGGED_IN,
		  "no PIN was given for token \"fake0\"", 1 },
		{ "--ui none: no one to ask", "fake:need-login=1", 0, ERR_P11_NOT_LOGGED_IN,
		  "--ui none cannot ask for one", 0 },
		{ "the configured PIN was rejected: not tried again",
		  "fake:need-login=1,auto-rejected=1", 0, ERR_P11_PIN_AUTO_REJECTED,
		  "rejected the PIN of its --token URI", 0 },
		{ "a locked PIN: nothing asked, nothing tried", "fake:need-login=1,flags=128", 1,
		  ERR_P11_PIN_LOCKED, "the user PIN of token \"fake0\" is locked", 0 },
		/* restarts are test_client's: this fake dies at its second request each time */
		{ "the helper dies during the sign", "fake:die=2", 1, ERR_PROTO_CLOSED,
		  "the token helper for fake:die=2 exited with status 3", 0 },
	};
	struct fake f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("# %s\n", cases[i].what);
		pin_reset(NULL);
		fake_open(&f, cases[i].spec, cases[i].ask ? &pins : &no_source);
		assert_sign_fails(&f.k, f.addrs[0], cases[i].want, cases[i].why);
		assert_int_equal(pin.asks, cases[i].asks);
		fake_close(&f);
	}
}

/* A PIN pad: the user is told to type on it; no PIN is asked for. */
static void
test_fake_pin_pad(void **state)
{
	struct fake f;
	char spec[64];

	(void)state;
	pin_reset("1234");
	snprintf(spec, sizeof(spec), "fake:need-login=1,flags=%d", FLAG_PIN_PAD);
	fake_open(&f, spec, &pins);
	assert_signs(&f.k, f.addrs[2]);
	assert_int_equal(pin.asks, 0);
	assert_int_equal(pin.notices, 1);
	assert_string_equal(pin.notice, "Type the PIN of token \"fake0\" on its PIN pad now");
	fake_close(&f);
}

/* Low or final tries: the user is warned, and the helper told the warning was seen. */
static void
test_fake_pin_tries(void **state)
{
	static const struct {
		int flag;
		const char *note;
	} cases[] = {
		{ FLAG_COUNT_LOW, "WARNING: the token reports failed PIN tries" },
		{ FLAG_FINAL_TRY, "WARNING: one PIN try is left before the token locks" },
	};
	struct fake f;
	char spec[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pin_reset("1234");
		snprintf(spec, sizeof(spec), "fake:need-login=1,flags=%d", cases[i].flag);
		fake_open(&f, spec, &pins);
		assert_signs(&f.k, f.addrs[0]);
		assert_int_equal(pin.asks, 1);
		assert_string_equal(pin.note, cases[i].note);
		assert_int_equal(fake_login_flags(&f), PROTO_LOGIN_LOW_TRIES_CONFIRMED);
		fake_close(&f);
	}
}

/*
 * The token is taken out after the first listing (the fake's request 1).
 * Its keys leave the listing; signing with one says the token was removed.
 */
static void
test_fake_token_removed(void **state)
{
	struct fake f;
	uint8_t now[FAKE0_KEYS][ETH_ADDR_LEN];

	(void)state;
	pin_reset(NULL);
	fake_open(&f, "fake:absent-at=2", &pins);
	assert_int_equal(f.n, FAKE0_KEYS);
	signer_keystore_invalidate(f.ks);	/* as a helper's token event does */
	assert_sign_fails(&f.k, f.addrs[0], ERR_P11_TOKEN_REMOVED,
	    "token \"fake0\" holding this key was removed; plug it back in");
	assert_int_equal(list_addrs(&f.k, now, FAKE0_KEYS), 0);
	fake_close(&f);
}

/*
 * Two modules reaching the same token list each key once; one broken
 * module does not hide the other's keys.
 */
static void
test_fake_two_modules(void **state)
{
	static const char *const second[] = { "fake", "fake:die=1" };
	const char *fake = testutil_build_program("tests/tools/fake-token-helper");
	struct p11_client *c[2];
	struct signer_keystore *ks;
	struct signer_keys k;
	uint8_t addrs[2 * FAKE0_KEYS][ETH_ADDR_LEN];
	size_t i;

	(void)state;
	pin_reset(NULL);
	for (i = 0; i < sizeof(second) / sizeof(second[0]); i++) {
		c[0] = start_client(fake, "fake");
		c[1] = start_client(fake, second[i]);
		assert_int_equal(signer_keystore_new(c, 2, &pins, &ks), 0);
		k = signer_keystore_keys(ks);
		assert_int_equal(list_addrs(&k, addrs, 2 * FAKE0_KEYS), FAKE0_KEYS);
		assert_signs(&k, addrs[i]);
		signer_keystore_free(ks);
		p11_client_stop(c[0]);
		p11_client_stop(c[1]);
	}
}

/* New keys go to the --keygen-token; none set, or an unknown token, is an error. */
static void
test_fake_generate(void **state)
{
	struct fake f;
	uint8_t addr[ETH_ADDR_LEN], now[FAKE0_KEYS + 4][ETH_ADDR_LEN];
	char why[SIGNER_WHY_MAX] = "";
	size_t i, n;
	int found = 0;

	(void)state;
	pin_reset(NULL);
	fake_open(&f, "fake", &pins);
	assert_int_equal(f.k.generate(f.k.ctx, addr, why), ERR_P11_TOKEN_UNKNOWN);
	assert_non_null(strstr(why, "--keygen-token"));
	signer_keystore_set_keygen(f.ks, "pkcs11:token=elsewhere", "eth");
	assert_int_equal(f.k.generate(f.k.ctx, addr, why), ERR_P11_TOKEN_UNKNOWN);
	signer_keystore_set_keygen(f.ks, FAKE0_URI, "eth");
	if (f.k.generate(f.k.ctx, addr, why) != 0)
		fail_msg("generate: %s", why);
	n = list_addrs(&f.k, now, FAKE0_KEYS + 4);
	assert_int_equal(n, FAKE0_KEYS + 1);
	for (i = 0; i < n; i++)
		found += memcmp(now[i], addr, ETH_ADDR_LEN) == 0;
	assert_int_equal(found, 1);
	assert_signs(&f.k, addr);
	fake_close(&f);
}

/* ---- SoftHSM2 behind p11signer-token ---- */

static struct {
	int ready;
	char dir[64], conf[128];
	char user_pin[16], so_pin[16];
} hsm;

/* A random decimal PIN of n digits (none is written in the repository). */
static void
random_pin(char *out, size_t n)
{
	FILE *f = fopen("/dev/urandom", "r");
	size_t i;

	assert_non_null(f);
	for (i = 0; i < n; i++) {
		int c;

		do
			c = fgetc(f);
		while (c >= 250);	/* no bias: 250 = 25 * 10 */
		assert_true(c != EOF);
		out[i] = (char)('0' + c % 10);
	}
	out[n] = '\0';
	fclose(f);
}

/* Run a command line (test data only: labels, paths and our PINs); 0 on success. */
static int
run(const char *cmd)
{
	int st = system(cmd);

	return st == 0 ? 0 : -1;
}

/* pkcs11-tool on our token, logged in with the PIN from the environment. */
static int
p11tool(const char *args)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "pkcs11-tool --module %s --token-label %s --login "
	    "--pin env:P11_USER_PIN %s >/dev/null 2>&1", SOFTHSM_MODULE, HSM_LABEL, args);
	return run(cmd);
}

static int
hsm_setup(void **state)
{
	char cmd[512];
	FILE *f;

	(void)state;
	if (access(SOFTHSM_MODULE, R_OK) != 0 || run("command -v softhsm2-util >/dev/null") != 0 ||
	    run("command -v pkcs11-tool >/dev/null") != 0)
		return 0;	/* each SoftHSM2 test says it skipped */
	snprintf(hsm.dir, sizeof(hsm.dir), "/tmp/p11s-keystore.XXXXXX");
	if (mkdtemp(hsm.dir) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s/tokens", hsm.dir);
	if (mkdir(cmd, 0700) != 0)
		return -1;
	snprintf(hsm.conf, sizeof(hsm.conf), "%s/softhsm2.conf", hsm.dir);
	if ((f = fopen(hsm.conf, "w")) == NULL)
		return -1;
	fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
	    "log.level = ERROR\nslots.removable = false\n", hsm.dir);
	fclose(f);
	setenv("SOFTHSM2_CONF", hsm.conf, 1);
	random_pin(hsm.user_pin, 8);
	random_pin(hsm.so_pin, 10);
	setenv("P11_USER_PIN", hsm.user_pin, 1);
	snprintf(cmd, sizeof(cmd), "softhsm2-util --init-token --free --label %s --pin %s "
	    "--so-pin %s >/dev/null", HSM_LABEL, hsm.user_pin, hsm.so_pin);
	if (run(cmd) != 0 ||
	    p11tool("--keypairgen --key-type EC:secp256k1 --label k1 --id 01") != 0)
		return -1;
	hsm.ready = 1;
	return 0;
}

static int
hsm_teardown(void **state)
{
	char cmd[128];

	(void)state;
	explicit_bzero(hsm.user_pin, sizeof(hsm.user_pin));
	explicit_bzero(hsm.so_pin, sizeof(hsm.so_pin));
	unsetenv("P11_USER_PIN");
	if (hsm.dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", hsm.dir);
		return run(cmd);
	}
	return 0;
}

/*
 * One helper over the SoftHSM2 token for the whole sequence: the helper's
 * log-in state is the token's, so the steps build on each other, in order.
 */
static void
test_softhsm(void **state)
{
	struct p11_client *c;
	struct signer_keystore *ks;
	struct signer_keys k;
	uint8_t addrs[4][ETH_ADDR_LEN], k1[ETH_ADDR_LEN], gen[ETH_ADDR_LEN];
	char why[SIGNER_WHY_MAX] = "";
	const struct signer_pin_source none = { NULL, NULL, NULL };

	(void)state;
	if (!hsm.ready)
		skip();
	c = start_client(testutil_build_program("p11signer-token"), SOFTHSM_MODULE);
	/* no pin source: the sign says why it cannot log in */
	assert_int_equal(signer_keystore_new(&c, 1, &none, &ks), 0);
	k = signer_keystore_keys(ks);
	assert_int_equal(list_addrs(&k, addrs, 4), 1);
	memcpy(k1, addrs[0], ETH_ADDR_LEN);
	assert_sign_fails(&k, k1, ERR_P11_NOT_LOGGED_IN, "--ui none cannot ask for one");
	signer_keystore_free(ks);

	assert_int_equal(signer_keystore_new(&c, 1, &pins, &ks), 0);
	k = signer_keystore_keys(ks);
	/* the user gives no PIN */
	pin_reset(NULL);
	assert_sign_fails(&k, k1, ERR_P11_NOT_LOGGED_IN, "no PIN was given for token \"keystore\"");
	assert_int_equal(pin.asks, 1);
	assert_string_equal(pin.token, HSM_LABEL);
	/* a wrong PIN (a PIN of other digits than ours) is reported, not retried */
	pin_reset(strcmp(hsm.user_pin, "00000000") != 0 ? "00000000" : "11111111");
	assert_sign_fails(&k, k1, ERR_P11_PIN_INCORRECT, "token \"keystore\" rejected the PIN");
	assert_int_equal(pin.asks, 1);
	/* the right one: logged in, signed, and not asked again */
	pin_reset(hsm.user_pin);
	assert_signs(&k, k1);
	assert_int_equal(pin.asks, 1);
	assert_signs(&k, k1);
	assert_int_equal(pin.asks, 1);

	/* a new key on the token */
	signer_keystore_set_keygen(ks, "pkcs11:token=" HSM_LABEL, "ks");
	if (k.generate(k.ctx, gen, why) != 0)
		fail_msg("generate: %s", why);
	assert_int_equal(list_addrs(&k, addrs, 4), 2);
	assert_signs(&k, gen);

	/*
	 * k1 deleted behind the signer's back, the list not yet refreshed: the
	 * helper finds it gone from a token that still answers; then it is no
	 * longer listed, and a sign for it is for an unknown key.
	 */
	assert_int_equal(p11tool("--delete-object --type privkey --id 01"), 0);
	assert_sign_fails(&k, k1, ERR_P11_KEY_VANISHED, "key was deleted");
	{
		long until = testutil_now_ms() + 5000;
		size_t n;

		while ((n = list_addrs(&k, addrs, 4)) != 1 && testutil_now_ms() < until)
			testutil_sleep_ms(200);
		if (n != 1)
			fail_msg("a deleted key is still listed 5 s later (%zu keys)", n);
	}
	assert_sign_fails(&k, k1, ERR_P11_KEY_NOT_FOUND, NULL);
	assert_memory_equal(addrs[0], gen, ETH_ADDR_LEN);
	assert_signs(&k, gen);

	signer_keystore_free(ks);
	p11_client_stop(c);
	explicit_bzero(&pin, sizeof(pin));
}

/* A keystore needs a module: none is refused (it used to reach memcpy(NULL, ...)). */
static void
test_no_module(void **state)
{
	struct signer_keystore *ks = (struct signer_keystore *)&ks;

	assert_int_equal(signer_keystore_new(NULL, 0, NULL, &ks), ERR_INVALID_ARGUMENT);
	assert_null(ks);
}

int
main(void)
{
	const struct CMUnitTest fake[] = {
		cmocka_unit_test(test_no_module),
		cmocka_unit_test(test_fake_list_and_sign),
		cmocka_unit_test(test_fake_pin_asked),
		cmocka_unit_test(test_fake_pin_rejected),
		cmocka_unit_test(test_fake_sign_refused),
		cmocka_unit_test(test_fake_pin_pad),
		cmocka_unit_test(test_fake_pin_tries),
		cmocka_unit_test(test_fake_token_removed),
		cmocka_unit_test(test_fake_two_modules),
		cmocka_unit_test(test_fake_generate),
	};
	const struct CMUnitTest softhsm[] = {
		cmocka_unit_test(test_softhsm),
	};
	int failed = 0;

	ctx = secp256k1_context_create(SECP256K1_CONTEXT_VERIFY);
	failed += cmocka_run_group_tests_name("keystore-fake", fake, NULL, NULL);
	failed += cmocka_run_group_tests_name("keystore-softhsm", softhsm, hsm_setup, hsm_teardown);
	secp256k1_context_destroy(ctx);
	return failed != 0;
}
