/*
 * keystore.c - the keys of the token helpers behind struct signer_keys
 * (see keystore.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eth/addr.h"
#include "core/err.h"
#include "core/limits.h"
#include "signer/keystore.h"

struct ks_key {
	uint8_t addr[ETH_ADDR_LEN];
	uint8_t pub[65];	/* the helper's; proto.c checked that it hashes to addr */
	size_t client;
	uint32_t handle;
	char *uri;
	char *token_uri;
	char *token_label;
	uint32_t token_flags;	/* PROTO_TOKEN_PRESENT clear: remembered from before a removal */
};

struct signer_keystore {
	struct p11_client **clients;
	size_t nclients;
	struct signer_pin_source pins;
	pthread_mutex_t lock;		/* keys, listed, listed_gen */
	pthread_mutex_t login_lock;	/* one log-in dialogue at a time */
	struct ks_key *keys;
	size_t nkeys;
	/*
	 * The list is current while listed_gen == gen.  invalidate() only bumps
	 * gen, without the lock: it is called from a client's reader thread,
	 * which must not wait for a lister that waits for that thread's reply.
	 */
	atomic_uint gen;
	unsigned listed_gen;
	int listed;
	char *keygen_token;
	char *keygen_label;
	unsigned keygen_count;
};

static void
keys_free(struct ks_key *keys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(keys[i].uri);
		free(keys[i].token_uri);
		free(keys[i].token_label);
	}
	free(keys);
}

/* Append a key (strings copied); 0 or ERR_NOMEM, with *keysp and *np still consistent. */
static int
keys_push(struct ks_key **keysp, size_t *np, const uint8_t addr[ETH_ADDR_LEN],
    const uint8_t pub[65], size_t client, uint32_t handle, uint32_t flags, const char *uri,
    const char *token_uri, const char *label)
{
	struct ks_key *grown, *k;

	if ((grown = realloc(*keysp, (*np + 1) * sizeof(*grown))) == NULL)
		return ERR_NOMEM;
	*keysp = grown;
	k = &grown[(*np)++];
	memset(k, 0, sizeof(*k));
	memcpy(k->addr, addr, ETH_ADDR_LEN);
	memcpy(k->pub, pub, sizeof(k->pub));
	k->client = client;
	k->handle = handle;
	k->token_flags = flags;
	k->uri = strdup(uri);
	k->token_uri = strdup(token_uri);
	k->token_label = strdup(label);
	return k->uri != NULL && k->token_uri != NULL && k->token_label != NULL ? 0 : ERR_NOMEM;
}

/* Fetch every helper's list.  Called with ks->lock held. */
static int
refresh(struct signer_keystore *ks, char why[SIGNER_WHY_MAX])
{
	struct ks_key *keys = NULL;
	size_t n = 0, c, t, k, failed = 0;
	unsigned gen = atomic_load(&ks->gen);
	int r = 0, last_err = 0;

	for (c = 0; c < ks->nclients; c++) {
		struct proto_msg *list = NULL;
		char cwhy[P11_CLIENT_WHY_MAX] = "";

		if ((r = p11_client_list(ks->clients[c], &list, cwhy)) != 0) {
			/*
			 * One broken module does not hide the others' keys.  Its own
			 * keys stay as last known, so that a request for one gets the
			 * module's reason (its helper restarting, say) from the sign
			 * itself rather than "unknown account".
			 */
			snprintf(why, SIGNER_WHY_MAX, "%.250s", cwhy[0] != '\0' ? cwhy : err_str(r));
			last_err = r;
			failed++;
			for (k = 0; k < ks->nkeys; k++) {
				struct ks_key *old = &ks->keys[k];

				if (old->client == c && keys_push(&keys, &n, old->addr, old->pub, c,
				    old->handle, old->token_flags, old->uri, old->token_uri,
				    old->token_label) != 0) {
					keys_free(keys, n);
					return ERR_NOMEM;
				}
			}
			continue;
		}
		for (t = 0; t < list->key_list.ntokens; t++) {
			const struct proto_token *tok = &list->key_list.tokens[t];

			if (!(tok->flags & PROTO_TOKEN_PRESENT)) {
				/*
				 * Its keys are not listed, but a request for one of them
				 * should hear that the token is out, not that the key
				 * is unknown: keep what we knew of them, marked absent.
				 */
				for (k = 0; k < ks->nkeys; k++) {
					struct ks_key *old = &ks->keys[k];

					if (old->client != c || strcmp(old->token_uri, tok->uri) != 0)
						continue;
					if (keys_push(&keys, &n, old->addr, old->pub, c, old->handle,
					    tok->flags & ~(uint32_t)PROTO_TOKEN_PRESENT, old->uri,
					    old->token_uri, old->token_label) != 0) {
						proto_msg_free(list);
						keys_free(keys, n);
						return ERR_NOMEM;
					}
				}
				continue;
			}
			for (k = 0; k < tok->nkeys; k++) {
				const struct proto_key *pk = &tok->keys[k];

				if (keys_push(&keys, &n, pk->addr, pk->pub, c, pk->handle, tok->flags, pk->uri,
				    tok->uri, tok->label) != 0) {
					proto_msg_free(list);
					keys_free(keys, n);
					return ERR_NOMEM;
				}
			}
		}
		proto_msg_free(list);
	}
	keys_free(ks->keys, ks->nkeys);
	ks->keys = keys;
	ks->nkeys = n;
	ks->listed = 1;
	/* An event during the listing, or a module that failed, leaves it stale. */
	ks->listed_gen = failed == 0 ? gen : gen - 1;
	/* With every module failing there is nothing to list: say why. */
	return failed > 0 && failed == ks->nclients ? last_err : 0;
}

static int
ks_list(void *ctx, json_t **accountsp, char why[SIGNER_WHY_MAX])
{
	struct signer_keystore *ks = ctx;
	json_t *out;
	char a[ETH_ADDR_STR];
	size_t i;
	int r;

	*accountsp = NULL;
	pthread_mutex_lock(&ks->lock);
	if ((r = refresh(ks, why)) != 0 || (out = json_array()) == NULL) {
		pthread_mutex_unlock(&ks->lock);
		return r != 0 ? r : ERR_NOMEM;
	}
	for (i = 0; i < ks->nkeys; i++) {
		size_t j;

		if (!(ks->keys[i].token_flags & PROTO_TOKEN_PRESENT))
			continue;	/* its token is out */
		/* One key reached through two modules is one account (the first signs). */
		for (j = 0; j < i; j++)
			if (memcmp(ks->keys[j].addr, ks->keys[i].addr, ETH_ADDR_LEN) == 0)
				break;
		if (j < i)
			continue;
		eth_addr_to_checksum(ks->keys[i].addr, a);
		json_array_append_new(out, json_pack("{s:s,s:s}", "address", a,
		    "url", ks->keys[i].uri));
	}
	pthread_mutex_unlock(&ks->lock);
	*accountsp = out;
	return 0;
}

/* The cached list is up to date.  Called with ks->lock held. */
static int
current(struct signer_keystore *ks)
{
	return ks->listed && ks->listed_gen == atomic_load(&ks->gen);
}

/* Copy out what signing a key needs, refreshing once if it is not known. */
static int
find_key(struct signer_keystore *ks, const uint8_t addr[ETH_ADDR_LEN], size_t *clientp,
    uint8_t pub[65], char uri[LIMIT_P11_URI + 1], char token_uri[LIMIT_P11_URI + 1],
    char label[LIMIT_PROTO_TEXT + 1], uint32_t *flagsp, char why[SIGNER_WHY_MAX])
{
	size_t i;
	int refreshed = 0, r = ERR_P11_KEY_NOT_FOUND;

	pthread_mutex_lock(&ks->lock);
	if (!current(ks)) {
		if ((r = refresh(ks, why)) != 0)
			goto out;
		refreshed = 1;
	}
	for (;;) {
		for (i = 0; i < ks->nkeys; i++)
			if (memcmp(ks->keys[i].addr, addr, ETH_ADDR_LEN) == 0 &&
			    (ks->keys[i].token_flags & PROTO_TOKEN_PRESENT)) {
				*clientp = ks->keys[i].client;
				memcpy(pub, ks->keys[i].pub, 65);
				snprintf(uri, LIMIT_P11_URI + 1, "%s", ks->keys[i].uri);
				snprintf(token_uri, LIMIT_P11_URI + 1, "%s", ks->keys[i].token_uri);
				snprintf(label, LIMIT_PROTO_TEXT + 1, "%s", ks->keys[i].token_label);
				*flagsp = ks->keys[i].token_flags;
				r = 0;
				goto out;
			}
		/* Not in a list we did not fetch just now: it may be new. */
		if (refreshed || (r = refresh(ks, why)) != 0)
			break;
		refreshed = 1;
	}
	if (r == 0) {
		r = ERR_P11_KEY_NOT_FOUND;
		for (i = 0; i < ks->nkeys; i++)
			if (memcmp(ks->keys[i].addr, addr, ETH_ADDR_LEN) == 0) {
				snprintf(why, SIGNER_WHY_MAX, "token \"%.64s\" holding this key was "
				    "removed; plug it back in", ks->keys[i].token_label);
				r = ERR_P11_TOKEN_REMOVED;
				break;
			}
	}
 out:
	pthread_mutex_unlock(&ks->lock);
	return r;
}

/*
 * Log in to a token: the PIN pad, or a PIN asked for.  Never retries a PIN
 * the token rejected; never tries one when the token is locked.
 */
static int
login(struct signer_keystore *ks, struct p11_client *c, const char *token_uri,
    const char *label, uint32_t flags, const char *helper_why, char why[SIGNER_WHY_MAX])
{
	struct proto_login_result res;
	char cwhy[P11_CLIENT_WHY_MAX] = "", note[160] = "";
	uint8_t pin[LIMIT_P11_PIN];
	size_t pinlen = 0;
	uint32_t lflags = 0;
	int r;

	if (flags & PROTO_TOKEN_PIN_LOCKED) {
		snprintf(why, SIGNER_WHY_MAX, "the user PIN of token \"%.64s\" is locked; "
		    "unlock it with the token's tools (SO PIN or PUK)", label);
		return ERR_P11_PIN_LOCKED;
	}
	if (flags & PROTO_TOKEN_PROTECTED_AUTH) {
		if (ks->pins.notice != NULL) {
			snprintf(note, sizeof(note), "Type the PIN of token \"%.64s\" on its PIN pad now",
			    label);
			ks->pins.notice(ks->pins.ctx, note);
		}
		r = p11_client_login(c, token_uri, PROTO_LOGIN_PIN_PAD, NULL, 0, &res, cwhy);
	} else {
		if (ks->pins.ask_pin == NULL && (flags & PROTO_TOKEN_PIN_AUTO_REJECTED)) {
			snprintf(why, SIGNER_WHY_MAX, "token \"%.64s\" rejected the PIN of its "
			    "--token URI; it is not tried again: correct it and restart p11signer",
			    label);
			return ERR_P11_PIN_AUTO_REJECTED;
		}
		if (ks->pins.ask_pin == NULL) {
			/* The helper's reason says whether a configured PIN failed, and how. */
			snprintf(why, SIGNER_WHY_MAX, "%.180s; --ui none cannot ask for one "
			    "(the signer's log says more)", helper_why[0] != '\0' ? helper_why :
			    "the token needs a PIN");
			return ERR_P11_NOT_LOGGED_IN;
		}
		if (flags & PROTO_TOKEN_PIN_FINAL_TRY) {
			snprintf(note, sizeof(note), "WARNING: one PIN try is left before the token locks");
			lflags |= PROTO_LOGIN_LOW_TRIES_CONFIRMED;
		} else if (flags & PROTO_TOKEN_PIN_COUNT_LOW) {
			snprintf(note, sizeof(note), "WARNING: the token reports failed PIN tries");
			lflags |= PROTO_LOGIN_LOW_TRIES_CONFIRMED;
		}
		if ((r = ks->pins.ask_pin(ks->pins.ctx, label, note, pin, sizeof(pin),
		    &pinlen)) != 0 || pinlen == 0) {
			explicit_bzero(pin, sizeof(pin));
			snprintf(why, SIGNER_WHY_MAX, "no PIN was given for token \"%.64s\"", label);
			return ERR_P11_NOT_LOGGED_IN;
		}
		r = p11_client_login(c, token_uri, lflags, pin, pinlen, &res, cwhy);
		explicit_bzero(pin, sizeof(pin));
	}
	if (r != 0) {
		snprintf(why, SIGNER_WHY_MAX, "%.250s", cwhy[0] != '\0' ? cwhy : err_str(r));
		return r;
	}
	switch (res.status) {
	case PROTO_LOGIN_OK:
	case PROTO_LOGIN_ALREADY:
		return 0;
	case PROTO_LOGIN_PIN_INCORRECT:
		snprintf(why, SIGNER_WHY_MAX, "token \"%.64s\" rejected the PIN%s", label,
		    (res.token_flags & PROTO_TOKEN_PIN_FINAL_TRY) ? "; one try is left" :
		    (res.token_flags & PROTO_TOKEN_PIN_LOCKED) ? "; the PIN is now locked" : "");
		return ERR_P11_PIN_INCORRECT;
	case PROTO_LOGIN_PIN_LOCKED:
		snprintf(why, SIGNER_WHY_MAX, "the user PIN of token \"%.64s\" is locked", label);
		return ERR_P11_PIN_LOCKED;
	case PROTO_LOGIN_PIN_INVALID:
		snprintf(why, SIGNER_WHY_MAX, "token \"%.64s\" refuses the PIN's length or "
		    "characters (no try was spent)", label);
		return ERR_P11_PIN_INVALID;
	case PROTO_LOGIN_LOW_TRIES:
		snprintf(why, SIGNER_WHY_MAX, "token \"%.64s\" reports failed PIN tries", label);
		return ERR_P11_PIN_COUNT_LOW;
	case PROTO_LOGIN_CANCELLED:
		snprintf(why, SIGNER_WHY_MAX, "PIN entry on token \"%.64s\" was cancelled", label);
		return ERR_P11_CANCELED;
	case PROTO_LOGIN_TOKEN_ABSENT:
		snprintf(why, SIGNER_WHY_MAX, "token \"%.64s\" was removed", label);
		return ERR_P11_TOKEN_REMOVED;
	default:
		snprintf(why, SIGNER_WHY_MAX, "token \"%.64s\" has no PIN pad", label);
		return ERR_P11_NO_PIN_PAD;
	}
}

static int
ks_sign(void *ctx, const uint8_t addr[ETH_ADDR_LEN], const uint8_t digest[32],
    uint8_t sig64[64], uint8_t pub65[65], char why[SIGNER_WHY_MAX])
{
	struct signer_keystore *ks = ctx;
	char uri[LIMIT_P11_URI + 1], token_uri[LIMIT_P11_URI + 1];
	char label[LIMIT_PROTO_TEXT + 1], cwhy[P11_CLIENT_WHY_MAX] = "";
	struct proto_key_ref ref;
	uint32_t flags;
	size_t client;
	int r, attempt;

	if ((r = find_key(ks, addr, &client, pub65, uri, token_uri, label, &flags, why)) != 0)
		return r;
	memset(&ref, 0, sizeof(ref));
	ref.uri = uri;	/* a URI survives a helper restart; a handle may not */
	for (attempt = 0; attempt < 2; attempt++) {
		r = p11_client_sign(ks->clients[client], &ref, digest, sig64, cwhy);
		if (r != ERR_P11_NOT_LOGGED_IN || attempt == 1)
			break;
		pthread_mutex_lock(&ks->login_lock);
		/* Another request may have logged in while we waited for the lock. */
		r = p11_client_sign(ks->clients[client], &ref, digest, sig64, cwhy);
		if (r != ERR_P11_NOT_LOGGED_IN) {
			pthread_mutex_unlock(&ks->login_lock);
			break;
		}
		r = login(ks, ks->clients[client], token_uri, label, flags, cwhy, why);
		pthread_mutex_unlock(&ks->login_lock);
		if (r != 0) {
			signer_keystore_invalidate(ks);	/* PIN state changed */
			return r;
		}
	}
	if (r != 0) {
		if (why[0] == '\0')
			snprintf(why, SIGNER_WHY_MAX, "%.250s", cwhy[0] != '\0' ? cwhy : err_str(r));
		if (r == ERR_P11_TOKEN_REMOVED || r == ERR_PROTO_CLOSED)
			signer_keystore_invalidate(ks);
	}
	return r;
}

static int
ks_generate(void *ctx, uint8_t addr[ETH_ADDR_LEN], char why[SIGNER_WHY_MAX])
{
	struct signer_keystore *ks = ctx;
	struct proto_msg *gen = NULL;
	char label[LIMIT_PROTO_TEXT + 1], cwhy[P11_CLIENT_WHY_MAX] = "";
	size_t c;
	int r = ERR_P11_TOKEN_UNKNOWN;

	if (ks->keygen_token == NULL) {
		snprintf(why, SIGNER_WHY_MAX, "no token is set for new keys (--keygen-token)");
		return ERR_P11_TOKEN_UNKNOWN;
	}
	/*
	 * Unique across restarts (a --stdio signer is a new process per call):
	 * the prefix, the time and a counter.
	 */
	pthread_mutex_lock(&ks->lock);
	snprintf(label, sizeof(label), "%.64s-%lld-%u", ks->keygen_label,
	    (long long)time(NULL), ks->keygen_count++);
	pthread_mutex_unlock(&ks->lock);
	/* The token URI belongs to one of the modules: the first that knows it makes the key. */
	for (c = 0; c < ks->nclients; c++) {
		r = p11_client_generate(ks->clients[c], ks->keygen_token, label, NULL, 0, &gen, cwhy);
		if (r != ERR_P11_TOKEN_UNKNOWN)
			break;
	}
	if (r != 0) {
		snprintf(why, SIGNER_WHY_MAX, "%.250s", cwhy[0] != '\0' ? cwhy : err_str(r));
		return r;
	}
	memcpy(addr, gen->generated.addr, ETH_ADDR_LEN);
	proto_msg_free(gen);
	signer_keystore_invalidate(ks);
	return 0;
}

int
signer_keystore_new(struct p11_client *const *clients, size_t nclients,
    const struct signer_pin_source *pins, struct signer_keystore **outp)
{
	struct signer_keystore *ks;

	*outp = NULL;
	if (nclients == 0 || clients == NULL)
		return ERR_INVALID_ARGUMENT;
	if ((ks = calloc(1, sizeof(*ks))) == NULL ||
	    (ks->clients = calloc(nclients, sizeof(*ks->clients))) == NULL) {
		free(ks);
		return ERR_NOMEM;
	}
	memcpy(ks->clients, clients, nclients * sizeof(*clients));
	ks->nclients = nclients;
	if (pins != NULL)
		ks->pins = *pins;
	pthread_mutex_init(&ks->lock, NULL);
	pthread_mutex_init(&ks->login_lock, NULL);
	*outp = ks;
	return 0;
}

void
signer_keystore_free(struct signer_keystore *ks)
{
	if (ks == NULL)
		return;
	keys_free(ks->keys, ks->nkeys);
	pthread_mutex_destroy(&ks->lock);
	pthread_mutex_destroy(&ks->login_lock);
	free(ks->clients);
	free(ks->keygen_token);
	free(ks->keygen_label);
	free(ks);
}

struct signer_keys
signer_keystore_keys(struct signer_keystore *ks)
{
	struct signer_keys k = { ks, ks_list, ks_sign, ks_generate };

	return k;
}

void
signer_keystore_invalidate(struct signer_keystore *ks)
{
	atomic_fetch_add(&ks->gen, 1);
}

void
signer_keystore_set_keygen(struct signer_keystore *ks, const char *token_uri,
    const char *label_prefix)
{
	pthread_mutex_lock(&ks->lock);
	free(ks->keygen_token);
	free(ks->keygen_label);
	ks->keygen_token = token_uri != NULL ? strdup(token_uri) : NULL;
	ks->keygen_label = strdup(label_prefix != NULL ? label_prefix : "eth");
	pthread_mutex_unlock(&ks->lock);
}
