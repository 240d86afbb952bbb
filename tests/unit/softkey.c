/* softkey.c - see softkey.h.  TEST ONLY. */
#include <string.h>


#include "core/err.h"
#include "eth/keccak.h"
#include "softkey.h"

static int
softkey_list(void *c, json_t **accountsp, char why[SIGNER_WHY_MAX])
{
	struct softkey *k = c;

	*accountsp = json_pack("[{s:s,s:s}]", "address", k->hex, "url", k->url);
	return *accountsp != NULL ? 0 : ERR_NOMEM;
}

static int
softkey_sign(void *c, const uint8_t addr[ETH_ADDR_LEN], const uint8_t digest[32],
    uint8_t sig64[64], uint8_t pub65[65], char why[SIGNER_WHY_MAX])
{
	struct softkey *k = c;
	secp256k1_ecdsa_signature sig;
	secp256k1_pubkey pk;
	size_t len = 65;
	uint8_t d[32], other[32];
	const uint8_t *seckey = k->seckey;

	if (memcmp(addr, k->addr, ETH_ADDR_LEN) != 0)
		return ERR_P11_KEY_NOT_FOUND;
	memcpy(d, digest, 32);
	if (k->lie == SOFTKEY_LIE_DIGEST)
		d[31] ^= 1;
	memcpy(pub65, k->pub, 65);
	if (k->lie == SOFTKEY_LIE_KEY || k->lie == SOFTKEY_LIE_PUB) {
		/* another valid key: the secret's hash */
		eth_keccak256(k->seckey, 32, other);
		seckey = other;
		if (k->lie == SOFTKEY_LIE_PUB &&
		    (!secp256k1_ec_pubkey_create(k->ctx, &pk, other) ||
		    !secp256k1_ec_pubkey_serialize(k->ctx, pub65, &len, &pk,
		    SECP256K1_EC_UNCOMPRESSED)))
			return ERR_INTERNAL;
	}
	/* A valid low-s signature, as a token helper sends (no recovery id). */
	if (!secp256k1_ecdsa_sign(k->ctx, &sig, d, seckey, NULL, NULL))
		return ERR_INTERNAL;
	explicit_bzero(other, sizeof(other));
	secp256k1_ecdsa_signature_serialize_compact(k->ctx, sig64, &sig);
	k->signs++;
	return 0;
}

static int
softkey_generate(void *c, uint8_t addr[ETH_ADDR_LEN], char why[SIGNER_WHY_MAX])
{
	struct softkey *k = c;

	memcpy(addr, k->addr, ETH_ADDR_LEN);
	return 0;
}

int
softkey_init(struct softkey *k, const char *phrase, const char *url)
{
	secp256k1_pubkey pk;
	size_t n = sizeof(k->pub);

	memset(k, 0, sizeof(*k));
	k->url = url;
	eth_keccak256(phrase, strlen(phrase), k->seckey);
	if ((k->ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE)) == NULL ||
	    !secp256k1_ec_pubkey_create(k->ctx, &pk, k->seckey) ||
	    !secp256k1_ec_pubkey_serialize(k->ctx, k->pub, &n, &pk, SECP256K1_EC_UNCOMPRESSED))
		return -1;
	eth_addr_from_pubkey(k->pub, k->addr);
	eth_addr_to_checksum(k->addr, k->hex);
	return 0;
}

void
softkey_free(struct softkey *k)
{
	explicit_bzero(k->seckey, sizeof(k->seckey));
	if (k->ctx != NULL)
		secp256k1_context_destroy(k->ctx);
	k->ctx = NULL;
}

struct signer_keys
softkey_keys(struct softkey *k)
{
	struct signer_keys keys = { k, softkey_list, softkey_sign, softkey_generate };

	return keys;
}
