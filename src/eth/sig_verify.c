/*
 * sig_verify.c - the daemon's verification of a token's signature, which
 * also finds its recovery id (see sig.h).  Apart from sig.c so that the
 * token helper, which verifies nothing, does not link GMP.
 */
#include <string.h>

#include <gmp.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "eth/addr.h"
#include "core/err.h"
#include "eth/sig.h"

/*
 * The recovery id, 0 tried first, with which the low-s signature sig64 over
 * digest recovers to pub65: one or two recoveries, each of which is also
 * the signature's verification.  Only for a key whose x is not below n
 * (sig_verify_point() cannot take it).
 */
static int
sig_recover_to(const uint8_t digest[32], const uint8_t sig64[64], const uint8_t pub65[65],
    int *recidp)
{
	uint8_t got[65];
	int recid;

	for (recid = 0; recid <= 1; recid++) {
		if (eth_sig_recover(digest, sig64, recid, got) == 0 &&
		    memcmp(got, pub65, 65) == 0) {
			*recidp = recid;
			return 0;
		}
	}
	/* Recovery ids 2 and 3 (r >= p - n) are not representable in Ethereum. */
	return ERR_SIG_RECOVERY;
}

/* The group order n of secp256k1, big-endian. */
static const uint8_t sig_order[32] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
	0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
	0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
};

/* out = v as 32 bytes big-endian; 0 <= v < 2^256. */
static void
sig_mpz_out(uint8_t out[32], const mpz_t v)
{
	size_t len = (mpz_sizeinbase(v, 2) + 7) / 8, n;

	memset(out, 0, 32);
	if (mpz_sgn(v) != 0)
		mpz_export(out + 32 - len, &n, 1, 1, 1, 0, v);
}

/*
 * ECDSA's verification point R = (z/s) G + (r/s) Q (mod n), in one
 * double-base multiplication.  libsecp256k1 exports that multiplication only
 * inside secp256k1_ecdsa_recover(), which computes r'^-1 (s' X - z' G) for
 * the point X whose x is r' and whose y has the parity recid'.  With X = Q
 * (r' = x(Q), recid' = parity of y(Q)), s' = x(Q) r / s and
 * z' = -x(Q) z / s, that is R.  The scalars are public (the signature, the
 * digest, the public key), so GMP's variable-time arithmetic mod n is fine.
 * (GMP aborts the process when malloc() fails; its numbers here are four
 * 256-bit integers.)
 *
 * 0 with R compressed (02 or 03 || x) in r33; ERR_SIG_RECOVERY when R is the
 * point at infinity (no valid signature); -1 when this route is unusable:
 * x(Q) >= n (about 2^-128 of keys), where recovery would refuse x(Q) as r'.
 */
static int
sig_verify_point(const secp256k1_context *ctx, const uint8_t digest[32],
    const uint8_t sig64[64], const uint8_t q33[33], uint8_t r33[33])
{
	secp256k1_ecdsa_recoverable_signature rsig;
	secp256k1_pubkey rp;
	mpz_t n, x, t, u;
	uint8_t sig2[64], z2[32];
	size_t len = 33;
	int ok;

	mpz_inits(n, x, t, u, NULL);
	mpz_import(n, 32, 1, 1, 1, 0, sig_order);
	mpz_import(x, 32, 1, 1, 1, 0, q33 + 1);
	mpz_import(t, 32, 1, 1, 1, 0, sig64 + 32);
	ok = mpz_cmp(x, n) < 0 && mpz_invert(t, t, n) != 0;	/* t = 1/s */
	if (ok) {
		mpz_mul(t, t, x);
		mpz_mod(t, t, n);				/* t = x(Q) / s */
		mpz_import(u, 32, 1, 1, 1, 0, sig64);
		mpz_mul(u, u, t);
		mpz_mod(u, u, n);				/* s' = x(Q) r / s */
		memcpy(sig2, q33 + 1, 32);
		sig_mpz_out(sig2 + 32, u);
		mpz_import(u, 32, 1, 1, 1, 0, digest);
		mpz_mul(u, u, t);
		mpz_neg(u, u);
		mpz_mod(u, u, n);				/* z' = -x(Q) z / s */
		sig_mpz_out(z2, u);
		ok = secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rsig, sig2,
		    q33[0] - 2);
	}
	mpz_clears(n, x, t, u, NULL);
	if (!ok)
		return -1;
	/* recover() fails only for R at infinity: s' and r' are in [1, n-1]. */
	if (!secp256k1_ecdsa_recover(ctx, &rp, &rsig, z2))
		return ERR_SIG_RECOVERY;
	secp256k1_ec_pubkey_serialize(ctx, r33, &len, &rp, SECP256K1_EC_COMPRESSED);
	return 0;
}

int
eth_sig_find_recid(const uint8_t digest[32], const uint8_t sig64[64],
    const uint8_t pub65[65], int *recidp)
{
	const secp256k1_context *ctx = eth_sig_context();
	secp256k1_pubkey pk;
	uint8_t q33[33], r33[33];
	size_t len = sizeof(q33);
	int r;

	*recidp = -1;
	if (!eth_sig_is_low_s(sig64))
		return ERR_SIG_INVALID;
	if (ctx == NULL || !secp256k1_ec_pubkey_parse(ctx, &pk, pub65, 65))
		return ERR_PUBKEY_INVALID;
	secp256k1_ec_pubkey_serialize(ctx, q33, &len, &pk, SECP256K1_EC_COMPRESSED);
	r = sig_verify_point(ctx, digest, sig64, q33, r33);
	if (r < 0)
		return sig_recover_to(digest, sig64, pub65, recidp);
	if (r != 0)
		return r;
	/*
	 * Valid when x(R) = r.  x(R) = r + n (recovery ids 2 and 3) is not
	 * representable in Ethereum, and is refused as before.
	 */
	if (memcmp(r33 + 1, sig64, 32) != 0)
		return ERR_SIG_RECOVERY;
	*recidp = r33[0] - 2;
	return 0;
}

int
eth_sig_verify_addr(const uint8_t digest[32], const uint8_t sig64[64], const uint8_t pub65[65],
    const uint8_t addr[20], int *recidp)
{
	uint8_t pub_addr[20];

	*recidp = -1;
	if (eth_addr_from_pubkey(pub65, pub_addr) != 0 || memcmp(pub_addr, addr, 20) != 0)
		return ERR_SIG_RECOVERY;
	return eth_sig_find_recid(digest, sig64, pub65, recidp);
}
