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
