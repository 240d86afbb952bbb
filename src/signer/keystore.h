/*
 * keystore.h - the keys of `p11signer serve`: every --module's token helper
 * (p11/client.h) behind one struct signer_keys (api.h).
 *
 * Keys are found by address.  The key list is fetched from the helpers when
 * asked for and whenever a helper reports a token event, so a removed token's
 * keys leave the listing and come back when it is re-inserted without a
 * restart.  A sign for a key whose token is absent fails at once.
 *
 * PINs: a sign that the helper refuses with ERR_P11_NOT_LOGGED_IN is retried
 * once after a log-in.  For a token with a PIN pad (protected authentication
 * path) the pin source is told to have the user type the PIN on the device;
 * otherwise the PIN is asked for through the pin source (Clef's
 * ui_onInputRequired, or the terminal), with the reason when the token reports
 * failed tries.  A locked token, or a rejected PIN, is reported and never
 * retried on its own.  PIN bytes are wiped after use.
 */
#ifndef SIGNER_KEYSTORE_H
#define SIGNER_KEYSTORE_H

#include <stddef.h>

#include "p11/client.h"
#include "signer/api.h"

/* Where a PIN comes from when a token needs one. */
struct signer_pin_source {
	void *ctx;
	/*
	 * Ask the user for the PIN of the token named `token` (its label),
	 * with `note` (may be "") saying why or warning of failed tries.  Writes
	 * up to max bytes to pin and their count to *lenp.  Errors: anything
	 * means no PIN (ERR_TIMEOUT, ERR_IO).  NULL: no PIN can be asked for.
	 */
	int (*ask_pin)(void *ctx, const char *token, const char *note, uint8_t *pin,
	    size_t max, size_t *lenp);
	/* Tell the user something (type the PIN on the PIN pad now). May be NULL. */
	void (*notice)(void *ctx, const char *text);
};

struct signer_keystore;

/*
 * One client per module, at least one (borrowed: the caller starts and
 * stops them and keeps them alive while the keystore lives).  Caller frees
 * with signer_keystore_free().  Errors: ERR_INVALID_ARGUMENT (no client),
 * ERR_NOMEM.
 */
int signer_keystore_new(struct p11_client *const *clients, size_t nclients,
    const struct signer_pin_source *pins, struct signer_keystore **outp);
void signer_keystore_free(struct signer_keystore *ks);

/* The struct signer_keys of this keystore (ctx is the keystore). */
struct signer_keys signer_keystore_keys(struct signer_keystore *ks);

/* Forget the cached list (a helper's on_event calls this). */
void signer_keystore_invalidate(struct signer_keystore *ks);

/* Where new keys go (account_new): a token URI, and the label prefix. */
void signer_keystore_set_keygen(struct signer_keystore *ks, const char *token_uri,
    const char *label_prefix);

#endif /* SIGNER_KEYSTORE_H */
