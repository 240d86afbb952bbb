/*
 * ethtool - the codecs of src/eth driven from JSON lines, for the interop test
 * and the demo.  TEST TOOL: it signs with a throwaway key given on the command
 * line; p11signer itself never holds a key.
 *
 *   ethtool --key 0x<32 bytes> [--chainid QUANTITY] < requests > answers
 *   ethtool --capabilities      one JSON line: {"kinds":["tx","personal",...]}
 *
 * Each input line is {"id":N,"kind":"tx","args":{SendTxArgs}},
 * {"id":N,"kind":"typed","data":{typed data}} or
 * {"id":N,"kind":"personal","data":"0x.."}; other members are ignored.  Each
 * output line carries the same id and
 *
 *   tx        "hash" (signing hash), "raw", "txhash", "tx" (geth's JSON)
 *   personal  "digest" (EIP-191 0x45), "signature" (r || s || v, v = 27/28)
 *   typed     "digest" (EIP-712), "signature" (as personal)
 *
 * or {"id":N,"error":".."}.  "typed" exists only when src/eth/eip712.h did at
 * build time; --capabilities says whether it does, so that the interop test
 * knows whether to send typed data.
 *
 * The key is used the way the token layer uses a token: a plain ECDSA
 * signature (made high-s for every other request, as tokens often return),
 * then eth_sig_normalize() and eth_sig_find_recid() against the public key.
 * A signed transaction is also decoded again with eth_tx_decode_signed(),
 * which must give back the same bytes and the same sender, so that the
 * oracles check the decoder too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <secp256k1.h>

#include "eth/addr.h"
#include "eth/eip191.h"
#include "core/err.h"
#include "eth/hex.h"
#include "core/limits.h"
#include "eth/sig.h"
#include "eth/tx.h"
#include "eth/u256.h"

#if __has_include("eth/eip712.h")
#include "eth/eip712.h"
#define ETHTOOL_TYPED 1
#else
#define ETHTOOL_TYPED 0
#endif

static secp256k1_context *ctx;
static uint8_t seckey[32];
static uint8_t pubkey[65];
static uint8_t signer[ETH_ADDR_LEN];
static unsigned long nsigned;

/* Sign like a token, then do what the token layer does with the result. */
static int
token_like_sign(const uint8_t digest[32], uint8_t sig64[64], int *recidp)
{
	secp256k1_ecdsa_signature sig;
	uint8_t negs[32];
	int made_high = 0, flipped = 0, r;

	/* libsecp256k1 signs low-s. */
	if (!secp256k1_ecdsa_sign(ctx, &sig, digest, seckey, NULL, NULL))
		return ERR_INTERNAL;
	secp256k1_ecdsa_signature_serialize_compact(ctx, sig64, &sig);
	if (nsigned++ % 2 == 1) {
		/* s := n - s, as about half of real token signatures arrive. */
		memcpy(negs, sig64 + 32, 32);
		if (!secp256k1_ec_seckey_negate(ctx, negs))	/* n - s, 0 < s < n */
			return ERR_INTERNAL;
		memcpy(sig64 + 32, negs, 32);
		made_high = 1;
	}
	if ((r = eth_sig_normalize(sig64, &flipped)) != 0)
		return r;
	if (flipped != made_high || !eth_sig_is_low_s(sig64))
		return ERR_INTERNAL;	/* eth_sig_normalize() did not do its job */
	return eth_sig_find_recid(digest, sig64, pubkey, recidp);
}

/* Add a member; v NULL means an allocation failed.  Steals v. */
static int
put(json_t *out, const char *key, json_t *v)
{
	if (v == NULL)
		return ERR_NOMEM;
	return json_object_set_new(out, key, v) == 0 ? 0 : ERR_NOMEM;
}

/* r || s || v with v = 27 + recid, as Clef answers account_signData. */
static int
sign_digest_clef(json_t *out, const uint8_t digest[32])
{
	uint8_t sig[65];
	int recid, r;

	if ((r = token_like_sign(digest, sig, &recid)) != 0)
		return r;
	sig[64] = (uint8_t)(27 + recid);
	if ((r = put(out, "digest", eth_hex_json(digest, 32))) != 0 ||
	    (r = put(out, "signature", eth_hex_json(sig, 65))) != 0)
		return r;
	return 0;
}

/*
 * Decode the raw transaction again: the same bytes must come back from
 * re-encoding, with the same signature and the signer as sender.
 */
static int
check_decode(const uint8_t *raw, size_t rawlen, const uint8_t sig64[64],
    int recid, char *why, size_t whylen)
{
	struct eth_tx *back = NULL;
	uint8_t sig2[64], sender[ETH_ADDR_LEN], *raw2 = NULL;
	size_t raw2len = 0;
	int recid2 = -1, r;

	if ((r = eth_tx_decode_signed(raw, rawlen, &back, sig2, &recid2)) != 0) {
		snprintf(why, whylen, "eth_tx_decode_signed() refused our own raw");
		goto out;
	}
	if (memcmp(sig2, sig64, 64) != 0 || recid2 != recid) {
		r = ERR_INTERNAL;
		snprintf(why, whylen, "eth_tx_decode_signed() gave another signature");
		goto out;
	}
	if ((r = eth_tx_encode_signed(back, sig2, recid2, &raw2, &raw2len)) != 0) {
		snprintf(why, whylen, "re-encoding the decoded transaction failed");
		goto out;
	}
	if (raw2len != rawlen || memcmp(raw2, raw, rawlen) != 0) {
		r = ERR_INTERNAL;
		snprintf(why, whylen, "decoding and re-encoding changed the bytes");
		goto out;
	}
	if ((r = eth_tx_recover_sender(back, sig2, recid2, sender)) != 0) {
		snprintf(why, whylen, "eth_tx_recover_sender() failed");
		goto out;
	}
	if (memcmp(sender, signer, ETH_ADDR_LEN) != 0) {
		r = ERR_INTERNAL;
		snprintf(why, whylen, "eth_tx_recover_sender() gave another address");
		goto out;
	}
	/* success */
	r = 0;
out:
	free(raw2);
	eth_tx_free(back);
	return r;
}

static int
answer_tx(const json_t *args, const struct eth_u256 *chainid, json_t *out,
    char *why, size_t whylen)
{
	struct eth_tx *tx = NULL;
	char errmsg[ERR_WHY_MAX];
	uint8_t hash[32], txhash[32], sig64[64], *raw = NULL;
	size_t rawlen = 0;
	json_t *txjson = NULL;
	int recid = -1, r;

	if (args == NULL) {
		r = ERR_INVALID_ARGUMENT;
		snprintf(why, whylen, "a tx request has \"args\" (SendTxArgs)");
		goto out;
	}
	errmsg[0] = '\0';
	if ((r = eth_tx_from_send_args(args, chainid, &tx, NULL, errmsg)) != 0) {
		snprintf(why, whylen, "%s", errmsg[0] != '\0' ? errmsg : "SendTxArgs");
		goto out;
	}
	if ((r = eth_tx_signing_hash(tx, hash)) != 0) {
		snprintf(why, whylen, "signing hash");
		goto out;
	}
	if ((r = token_like_sign(hash, sig64, &recid)) != 0) {
		snprintf(why, whylen, "signing");
		goto out;
	}
	if ((r = eth_tx_encode_signed(tx, sig64, recid, &raw, &rawlen)) != 0) {
		snprintf(why, whylen, "encoding");
		goto out;
	}
	if ((r = eth_tx_hash(tx, sig64, recid, txhash)) != 0) {
		snprintf(why, whylen, "transaction hash");
		goto out;
	}
	if ((r = eth_tx_to_json(tx, sig64, recid, &txjson)) != 0) {
		snprintf(why, whylen, "geth's JSON");
		goto out;
	}
	if ((r = check_decode(raw, rawlen, sig64, recid, why, whylen)) != 0)
		goto out;
	if ((r = put(out, "hash", eth_hex_json(hash, 32))) != 0 ||
	    (r = put(out, "raw", eth_hex_json(raw, rawlen))) != 0 ||
	    (r = put(out, "txhash", eth_hex_json(txhash, 32))) != 0)
		goto out;
	r = put(out, "tx", txjson);
	txjson = NULL;
	if (r != 0)
		goto out;
	/* success */
	r = 0;
out:
	json_decref(txjson);
	free(raw);
	eth_tx_free(tx);
	return r;
}

static int
answer_personal(const json_t *data, json_t *out, char *why, size_t whylen)
{
	uint8_t *msg = NULL, digest[32];
	size_t len = 0;
	int r;

	if (!json_is_string(data)) {
		r = ERR_JSON_TYPE;
		snprintf(why, whylen, "\"data\" is not a hex string");
		goto out;
	}
	if ((r = eth_hex_decode(json_string_value(data), json_string_length(data),
	    LIMIT_SIGN_DATA_BYTES, &msg, &len)) != 0) {
		snprintf(why, whylen, "\"data\"");
		goto out;
	}
	if ((r = eth_eip191_personal_hash(msg, len, digest)) != 0) {
		snprintf(why, whylen, "EIP-191 hash");
		goto out;
	}
	if ((r = sign_digest_clef(out, digest)) != 0) {
		snprintf(why, whylen, "signing");
		goto out;
	}
	/* success */
	r = 0;
out:
	free(msg);
	return r;
}

#if ETHTOOL_TYPED
static int
answer_typed(const json_t *data, json_t *out, char *why, size_t whylen)
{
	char errmsg[ERR_WHY_MAX];
	uint8_t digest[32];
	int r;

	errmsg[0] = '\0';
	if ((r = eth_eip712_digest(data, digest, errmsg)) != 0) {
		snprintf(why, whylen, "%s", errmsg[0] != '\0' ? errmsg : "typed data");
		goto out;
	}
	if ((r = sign_digest_clef(out, digest)) != 0) {
		snprintf(why, whylen, "signing");
		goto out;
	}
	/* success */
	r = 0;
out:
	return r;
}
#endif

/* Fill out with the answer to one request; on failure why says what failed. */
static int
answer(const json_t *req, const struct eth_u256 *chainid, json_t *out,
    char *why, size_t whylen)
{
	const char *kind = json_string_value(json_object_get(req, "kind"));

	if (!json_is_object(req) || kind == NULL) {
		snprintf(why, whylen, "a request is an object with a string \"kind\"");
		return ERR_INVALID_ARGUMENT;
	}
	if (strcmp(kind, "tx") == 0)
		return answer_tx(json_object_get(req, "args"), chainid, out, why, whylen);
	if (strcmp(kind, "personal") == 0)
		return answer_personal(json_object_get(req, "data"), out, why, whylen);
#if ETHTOOL_TYPED
	if (strcmp(kind, "typed") == 0)
		return answer_typed(json_object_get(req, "data"), out, why, whylen);
#endif
	snprintf(why, whylen, "unknown kind (see ethtool --capabilities)");
	return ERR_INVALID_ARGUMENT;
}

int
main(int argc, char **argv)
{
	struct eth_u256 chainid;
	secp256k1_pubkey pk;
	size_t publen = 65;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int have_key = 0, i, rc = 0;

	eth_u256_from_u64(&chainid, 1);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--capabilities") == 0 && argc == 2) {
			printf("{\"kinds\":[\"tx\",\"personal\"%s]}\n",
			    ETHTOOL_TYPED ? ",\"typed\"" : "");
			return 0;
		} else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
			const char *k = argv[++i];
			if (eth_hex_decode_fixed(k, strlen(k), seckey, 32) != 0) {
				fprintf(stderr, "ethtool: --key wants 0x and 64 hex digits\n");
				return 2;
			}
			have_key = 1;
		} else if (strcmp(argv[i], "--chainid") == 0 && i + 1 < argc) {
			const char *c = argv[++i];
			if (eth_u256_parse_quantity(c, strlen(c), &chainid) != 0) {
				fprintf(stderr, "ethtool: --chainid wants a quantity\n");
				return 2;
			}
		} else {
			fprintf(stderr, "usage: ethtool --key 0x<64 hex> [--chainid 0x..] < requests.jsonl\n"
			    "       ethtool --capabilities\n");
			return 2;
		}
	}
	ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	if (ctx == NULL || !have_key || !secp256k1_ec_seckey_verify(ctx, seckey) ||
	    !secp256k1_ec_pubkey_create(ctx, &pk, seckey)) {
		fprintf(stderr, "ethtool: no valid --key given\n");
		explicit_bzero(seckey, sizeof(seckey));
		return 2;
	}
	secp256k1_ec_pubkey_serialize(ctx, pubkey, &publen, &pk, SECP256K1_EC_UNCOMPRESSED);
	if (eth_addr_from_pubkey(pubkey, signer) != 0) {
		fprintf(stderr, "ethtool: cannot derive the address of --key\n");
		explicit_bzero(seckey, sizeof(seckey));
		return 2;
	}

	while ((n = getline(&line, &cap, stdin)) > 0) {
		json_error_t e;
		json_t *req = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &e);
		json_t *out = json_object();
		char why[256] = "";
		char *s;
		int r;

		if (req == NULL || out == NULL) {
			fprintf(stderr, "ethtool: bad request line: %s\n",
			    req == NULL ? e.text : "out of memory");
			json_decref(req);
			json_decref(out);
			rc = 1;
			break;
		}
		r = answer(req, &chainid, out, why, sizeof(why));
		if (r != 0) {
			json_object_clear(out);
			json_object_set_new(out, "error", json_sprintf("%s: %s", err_str(r), why));
		}
		/* The id goes in last so that an answer cannot overwrite it. */
		if (json_object_get(req, "id") != NULL)
			json_object_set(out, "id", json_object_get(req, "id"));
		s = json_dumps(out, JSON_COMPACT);
		if (s == NULL) {
			fprintf(stderr, "ethtool: out of memory\n");
			rc = 1;
		} else
			printf("%s\n", s);
		free(s);
		json_decref(out);
		json_decref(req);
		if (rc != 0)
			break;
	}
	free(line);
	explicit_bzero(seckey, sizeof(seckey));
	secp256k1_context_destroy(ctx);
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = 1;
	return rc;
}
