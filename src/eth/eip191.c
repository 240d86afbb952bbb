#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "eth/eip191.h"
#include "core/err.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "core/limits.h"
#include "core/reader.h"
#include "eth/rlp.h"

#define PERSONAL_PREFIX "\x19" "Ethereum Signed Message:\n"
#define PERSONAL_PREFIX_LEN (sizeof(PERSONAL_PREFIX) - 1)

/* The prefix and the decimal length: at most 26 + 20 characters. */
static size_t
personal_header(size_t len, char out[64])
{
	int n = snprintf(out, 64, "%s%zu", PERSONAL_PREFIX, len);

	return n > 0 ? (size_t)n : 0;
}

int
eth_eip191_personal_hash(const uint8_t *msg, size_t len, uint8_t hash[32])
{
	struct eth_keccak k;
	char head[64];
	size_t hlen;

	if (len > LIMIT_SIGN_DATA_BYTES)
		return ERR_TOO_LONG;
	hlen = personal_header(len, head);
	eth_keccak_init(&k);
	eth_keccak_update(&k, head, hlen);
	if (len > 0)	/* msg may be NULL for the empty message */
		eth_keccak_update(&k, msg, len);
	eth_keccak_final(&k, hash);
	return 0;
}

int
eth_eip191_personal_message(const uint8_t *msg, size_t len, uint8_t **outp,
    size_t *outlenp)
{
	uint8_t *out = NULL;
	char head[64];
	size_t hlen;
	int r;

	*outp = NULL;
	*outlenp = 0;
	if (len > LIMIT_SIGN_DATA_BYTES) {
		r = ERR_TOO_LONG;
		goto out;
	}
	hlen = personal_header(len, head);
	if ((out = malloc(hlen + len + 1)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	memcpy(out, head, hlen);
	if (len > 0)
		memcpy(out + hlen, msg, len);
	out[hlen + len] = 0;
	/* success */
	*outp = out;
	*outlenp = hlen + len;
	out = NULL;
	r = 0;
out:
	free(out);
	return r;
}

int
eth_eip191_validator_hash(const uint8_t validator[ETH_ADDR_LEN],
    const uint8_t *data, size_t len, uint8_t hash[32])
{
	static const uint8_t version[2] = { 0x19, 0x00 };
	struct eth_keccak k;

	if (len > LIMIT_SIGN_DATA_BYTES)
		return ERR_TOO_LONG;
	eth_keccak_init(&k);
	eth_keccak_update(&k, version, 2);
	eth_keccak_update(&k, validator, ETH_ADDR_LEN);
	if (len > 0)
		eth_keccak_update(&k, data, len);
	eth_keccak_final(&k, hash);
	return 0;
}

int
eth_eip191_validator_message(const uint8_t validator[ETH_ADDR_LEN],
    const uint8_t *data, size_t len, uint8_t **outp, size_t *outlenp)
{
	uint8_t *out = NULL;
	int r;

	*outp = NULL;
	*outlenp = 0;
	if (len > LIMIT_SIGN_DATA_BYTES) {
		r = ERR_TOO_LONG;
		goto out;
	}
	if ((out = malloc(2 + ETH_ADDR_LEN + len + 1)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	out[0] = 0x19;
	out[1] = 0x00;
	memcpy(out + 2, validator, ETH_ADDR_LEN);
	if (len > 0)
		memcpy(out + 2 + ETH_ADDR_LEN, data, len);
	out[2 + ETH_ADDR_LEN + len] = 0;
	/* success */
	*outp = out;
	*outlenp = 2 + ETH_ADDR_LEN + len;
	out = NULL;
	r = 0;
out:
	free(out);
	return r;
}

/* ---- Clique ------------------------------------------------------------- */

#define CLIQUE_SEAL_LEN 65	/* r || s || v at the end of extra */
#define HEADER_EXTRA 12		/* index of extra among the header's fields */
#define HEADER_FIELDS 15	/* parentHash .. nonce */

enum field_kind { FIXED, BIG, U64, BYTES };

/* types.Header's fields up to baseFee, with the Go names geth's messages use. */
static const struct {
	const char *name, *go_type;
	enum field_kind kind;
	size_t size;
} header_fields[HEADER_FIELDS + 1] = {
	{ "ParentHash", "common.Hash", FIXED, 32 },
	{ "UncleHash", "common.Hash", FIXED, 32 },
	{ "Coinbase", "common.Address", FIXED, 20 },
	{ "Root", "common.Hash", FIXED, 32 },
	{ "TxHash", "common.Hash", FIXED, 32 },
	{ "ReceiptHash", "common.Hash", FIXED, 32 },
	{ "Bloom", "types.Bloom", FIXED, 256 },
	{ "Difficulty", "*big.Int", BIG, 0 },
	{ "Number", "*big.Int", BIG, 0 },
	{ "GasLimit", "uint64", U64, 0 },
	{ "GasUsed", "uint64", U64, 0 },
	{ "Time", "uint64", U64, 0 },
	{ "Extra", "[]uint8", BYTES, 0 },
	{ "MixDigest", "common.Hash", FIXED, 32 },
	{ "Nonce", "types.BlockNonce", FIXED, 8 },
	{ "BaseFee", "*big.Int", BIG, 0 },
};

/* Go's rlp wording for our RLP errors, so the caller sees what Clef says. */
static const char *
rlp_text(int code, enum field_kind kind)
{
	switch (code) {
	case ERR_RLP_TRUNCATED:
		return "value size exceeds available input length";
	case ERR_RLP_NONCANONICAL:
		return kind == BIG || kind == U64 ?
		    "non-canonical integer (leading zero bytes)" :
		    "non-canonical size information";
	case ERR_RLP_TRAILING:
		return "input contains more than one value";
	case ERR_RLP_EXPECTED_STRING:
		return "expected input string or byte";
	case ERR_RLP_SIZE:
		return kind == FIXED ? "input string has the wrong length" :
		    "input string too long";
	}
	return err_str(code);
}

/* Check one field of the header; field i, item it. */
static int
check_field(size_t i, const struct eth_rlp_item *it, struct eth_u256 *number,
    char *why)
{
	struct eth_u256 big;
	uint64_t u;
	int r = 0;

	switch (header_fields[i].kind) {
	case FIXED:
		if (it->is_list)
			r = ERR_RLP_EXPECTED_STRING;
		else if (it->len != header_fields[i].size)
			r = ERR_RLP_SIZE;
		break;
	case BIG:
		/* geth's *big.Int has no bound; 256 bits is far above any block number. */
		r = eth_rlp_item_uint(it, &big);
		if (r == 0 && i == 8)
			*number = big;
		break;
	case U64:
		r = eth_rlp_item_u64(it, &u);
		break;
	case BYTES:
		if (it->is_list)
			r = ERR_RLP_EXPECTED_STRING;
		break;
	}
	if (r != 0)
		return err_why(why, r, "rlp: %s for %s, decoding into (types.Header).%s",
		    rlp_text(r, header_fields[i].kind), header_fields[i].go_type,
		    header_fields[i].name);
	return 0;
}

/*
 * rlp(header) with extra replaced: fields[] are the items as received (raw
 * and canonical, so copying them is re-encoding them), nfields of them.
 */
static int
encode_header(struct eth_buf *b, const struct eth_rlp_item *fields, size_t nfields,
    const uint8_t *extra, size_t extra_len)
{
	size_t at = eth_rlp_list_begin(b), i;
	int r;

	for (i = 0; i < nfields; i++) {
		if (i == HEADER_EXTRA)
			r = eth_rlp_put_bytes(b, extra, extra_len);
		else
			r = eth_rlp_put_raw(b, fields[i].raw, fields[i].raw_len);
		if (r != 0)
			return r;
	}
	return eth_rlp_list_end(b, at);
}

int
eth_eip191_clique_parse(const uint8_t *untrusted, size_t len,
    struct eth_eip191_clique **outp, char why[ERR_WHY_MAX])
{
	struct eth_rlp_item header, fields[HEADER_FIELDS + 1], it;
	struct eth_eip191_clique *c = NULL;
	struct eth_buf b;
	struct reader fields_in;
	uint8_t *padded = NULL;
	size_t n = 0, extra_len, padded_len;
	int r;

	*outp = NULL;
	if (why != NULL)
		why[0] = '\0';
	eth_buf_init(&b, 2 * LIMIT_SIGN_DATA_BYTES);
	if (len > LIMIT_SIGN_DATA_BYTES) {
		r = err_why(why, ERR_TOO_LONG, "clique header longer than %d bytes",
		    LIMIT_SIGN_DATA_BYTES);
		goto out;
	}
	if ((r = eth_rlp_decode_one(untrusted, len, &header)) != 0) {
		r = err_why(why, r, "rlp: %s", rlp_text(r, BYTES));
		goto out;
	}
	if (!header.is_list) {
		r = err_why(why, ERR_RLP_EXPECTED_LIST,
		    "rlp: expected input list for types.Header");
		goto out;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	reader_init(&fields_in, header.payload, header.len, ERR_RLP_TRUNCATED);
	while (reader_left(&fields_in) > 0) {
		if ((r = eth_rlp_read(&fields_in, &it)) != 0) {
			r = err_why(why, r, "rlp: %s", rlp_text(r, BYTES));
			goto out;
		}
		if (n == HEADER_FIELDS + 1) {
			/*
			 * Field 17 is withdrawalsHash; the later ones (blob gas,
			 * beacon root, ...) need it.  clique.SealHash panics on them.
			 */
			r = err_why(why, ERR_CLIQUE_INVALID,
			    "unexpected withdrawal hash value in clique");
			goto out;
		}
		if ((r = check_field(n, &it, &c->number, why)) != 0)
			goto out;
		fields[n++] = it;
	}
	if (n < HEADER_FIELDS) {
		r = err_why(why, ERR_CLIQUE_INVALID, "rlp: too few elements for types.Header");
		goto out;
	}

	/*
	 * Clef puts back the seal that geth cut off, so that SealHash can cut
	 * it again: always, whatever the length of extra.  A checkpoint
	 * header's extra (vanity + signers) is 72 bytes or more with the seal
	 * already removed; cutting 65 off it would sign another header.
	 */
	extra_len = fields[HEADER_EXTRA].len;
	padded_len = extra_len + CLIQUE_SEAL_LEN;
	if ((padded = calloc(1, padded_len)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if (extra_len > 0)
		memcpy(padded, fields[HEADER_EXTRA].payload, extra_len);

	if ((r = encode_header(&b, fields, n, padded, padded_len)) != 0)
		goto out;
	eth_keccak256(b.p, b.len, c->header_hash);
	eth_buf_reset(&b);
	if ((r = encode_header(&b, fields, n, padded, padded_len - CLIQUE_SEAL_LEN)) != 0)
		goto out;
	eth_keccak256(b.p, b.len, c->seal_hash);
	if ((r = eth_buf_steal(&b, &c->seal_rlp, &c->seal_rlp_len)) != 0)
		goto out;
	/* success */
	*outp = c;
	c = NULL;
	r = 0;
out:
	free(padded);
	eth_buf_free(&b);
	eth_eip191_clique_free(c);
	return r;
}

void
eth_eip191_clique_free(struct eth_eip191_clique *c)
{
	if (c == NULL)
		return;
	free(c->seal_rlp);
	free(c);
}

void
eth_eip191_clique_summary(const struct eth_eip191_clique *c,
    char out[ETH_EIP191_CLIQUE_SUMMARY_MAX])
{
	char number[ETH_U256_DECIMAL_MAX], hash[2 * 32 + 3];

	eth_u256_to_decimal(&c->number, number);
	eth_hex_encode_to(c->header_hash, 32, hash);
	snprintf(out, ETH_EIP191_CLIQUE_SUMMARY_MAX, "clique header %s [%s]", number, hash);
}
