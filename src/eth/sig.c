#include <pthread.h>
#include <string.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "eth/addr.h"
#include "core/err.h"
#include "eth/sig.h"

static secp256k1_context *sig_ctx;
static pthread_once_t sig_ctx_once = PTHREAD_ONCE_INIT;

static void
sig_ctx_create(void)
{
	/* No signing happens through this context, so it needs no randomisation. */
	sig_ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
}

const struct secp256k1_context_struct *
eth_sig_context(void)
{
	pthread_once(&sig_ctx_once, sig_ctx_create);
	return sig_ctx;
}

int
eth_sig_parse_token(const uint8_t *untrusted, size_t len, uint8_t sig64[64])
{
	secp256k1_ecdsa_signature sig;
	const secp256k1_context *ctx = eth_sig_context();

	if (ctx == NULL)
		return ERR_NOMEM;
	if (len == 64) {
		if (!secp256k1_ecdsa_signature_parse_compact(ctx, &sig, untrusted))
			return ERR_SIG_INVALID;
	} else if (len >= 8 && len <= 72 && untrusted[0] == 0x30) {
		/* The library's DER parser is strict (no BER leniency). */
		if (!secp256k1_ecdsa_signature_parse_der(ctx, &sig, untrusted, len))
			return ERR_SIG_INVALID;
	} else
		return ERR_SIG_INVALID;
	secp256k1_ecdsa_signature_serialize_compact(ctx, sig64, &sig);
	return 0;
}

/* r and s both in [1, n-1]: parse_compact refuses r or s >= n; zero is checked here. */
static int
sig_parse_compact(const uint8_t sig64[64], secp256k1_ecdsa_signature *sig)
{
	static const uint8_t zero[32];
	const secp256k1_context *ctx = eth_sig_context();

	if (ctx == NULL || memcmp(sig64, zero, 32) == 0 ||
	    memcmp(sig64 + 32, zero, 32) == 0)
		return ERR_SIG_INVALID;
	if (!secp256k1_ecdsa_signature_parse_compact(ctx, sig, sig64))
		return ERR_SIG_INVALID;
	return 0;
}

int
eth_sig_normalize(uint8_t sig64[64], int *flippedp)
{
	secp256k1_ecdsa_signature sig;
	int r, flipped;

	if (flippedp != NULL)
		*flippedp = 0;
	if ((r = sig_parse_compact(sig64, &sig)) != 0)
		return r;
	flipped = secp256k1_ecdsa_signature_normalize(eth_sig_context(), &sig, &sig);
	secp256k1_ecdsa_signature_serialize_compact(eth_sig_context(), sig64, &sig);
	if (flippedp != NULL)
		*flippedp = flipped;
	return 0;
}

int
eth_sig_is_low_s(const uint8_t sig64[64])
{
	secp256k1_ecdsa_signature sig;

	if (sig_parse_compact(sig64, &sig) != 0)
		return 0;
	/* normalize returns 1 when the input was high-s. */
	return !secp256k1_ecdsa_signature_normalize(eth_sig_context(), NULL, &sig);
}

int
eth_sig_recover(const uint8_t digest[32], const uint8_t sig64[64], int recid,
    uint8_t pub65[65])
{
	const secp256k1_context *ctx = eth_sig_context();
	secp256k1_ecdsa_recoverable_signature rsig;
	secp256k1_ecdsa_signature plain;
	secp256k1_pubkey pk;
	size_t outlen = 65;

	if (ctx == NULL)
		return ERR_NOMEM;
	if (recid < 0 || recid > 1 || sig_parse_compact(sig64, &plain) != 0)
		return ERR_SIG_INVALID;
	if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rsig, sig64, recid))
		return ERR_SIG_INVALID;
	if (!secp256k1_ecdsa_recover(ctx, &pk, &rsig, digest))
		return ERR_SIG_RECOVERY;
	secp256k1_ec_pubkey_serialize(ctx, pub65, &outlen, &pk, SECP256K1_EC_UNCOMPRESSED);
	return 0;
}

/* Does the key recovered, got, match want (a pub65, or an address)? */
static int
sig_is_pub(const uint8_t got[65], const void *want)
{
	return memcmp(got, want, 65) == 0;
}

static int
sig_is_addr(const uint8_t got[65], const void *want)
{
	uint8_t addr[ETH_ADDR_LEN];

	return eth_addr_from_pubkey(got, addr) == 0 && memcmp(addr, want, ETH_ADDR_LEN) == 0;
}

/*
 * The recovery id, 0 tried first, with which the low-s signature sig64 over
 * digest recovers to a key that is_wanted() accepts.
 *
 * No separate secp256k1_ecdsa_verify(): a recovery that gives back the key
 * is that verification.  Recovery computes Q = r^-1 (sR - zG) from the R
 * that r and recid name; verifying (r, s) under that Q computes
 * s^-1 (zG + rQ) = R, whose x is r.  Verifying first would cost one more
 * scalar multiplication per signature (issue 20).
 */
static int
sig_find_recid(const uint8_t digest[32], const uint8_t sig64[64],
    int (*is_wanted)(const uint8_t got[65], const void *want), const void *want, int *recidp)
{
	uint8_t got[65];
	int recid, r = ERR_SIG_RECOVERY;

	*recidp = -1;
	/* eth_sig_is_low_s() is 0 also for r or s zero or not below n. */
	if (!eth_sig_is_low_s(sig64))
		r = ERR_SIG_INVALID;
	for (recid = 0; r == ERR_SIG_RECOVERY && recid <= 1; recid++) {
		if (eth_sig_recover(digest, sig64, recid, got) == 0 && is_wanted(got, want)) {
			*recidp = recid;
			r = 0;
		}
	}
	/* Recovery ids 2 and 3 (r >= n - p) are not representable in Ethereum. */
	return r;
}

int
eth_sig_find_recid(const uint8_t digest[32], const uint8_t sig64[64],
    const uint8_t pub65[65], int *recidp)
{
	const secp256k1_context *ctx = eth_sig_context();
	secp256k1_pubkey pk;
	int r;

	*recidp = -1;
	if (!eth_sig_is_low_s(sig64))
		r = ERR_SIG_INVALID;
	else if (ctx == NULL || !secp256k1_ec_pubkey_parse(ctx, &pk, pub65, 65))
		r = ERR_PUBKEY_INVALID;
	else
		r = sig_find_recid(digest, sig64, sig_is_pub, pub65, recidp);
	return r;
}

int
eth_sig_find_recid_addr(const uint8_t digest[32], const uint8_t sig64[64],
    const uint8_t addr[20], int *recidp)
{
	return sig_find_recid(digest, sig64, sig_is_addr, addr, recidp);
}

int
eth_sig_recover_address(const uint8_t digest[32], const uint8_t sig65[65],
    uint8_t addr[20])
{
	uint8_t pub[65];
	int v = sig65[64], r;

	if (v >= 27)
		v -= 27;
	if (v != 0 && v != 1)
		return ERR_SIG_INVALID;
	if ((r = eth_sig_recover(digest, sig65, v, pub)) != 0)
		return r;
	return eth_addr_from_pubkey(pub, addr);
}

int
eth_sig_pubkey_parse(const uint8_t *p, size_t n, uint8_t pub65[65])
{
	const secp256k1_context *ctx = eth_sig_context();
	secp256k1_pubkey pk;
	size_t outlen = 65;

	if (ctx == NULL)
		return ERR_NOMEM;
	if ((n != 65 && n != 33) || !secp256k1_ec_pubkey_parse(ctx, &pk, p, n))
		return ERR_PUBKEY_INVALID;
	secp256k1_ec_pubkey_serialize(ctx, pub65, &outlen, &pk, SECP256K1_EC_UNCOMPRESSED);
	return 0;
}
