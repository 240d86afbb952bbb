#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/calldata.h"
#include "eth/display.h"
#include "core/err.h"
#include "eth/hex.h"
#include "core/limits.h"

/* What the summary says of a built-in call; BI_NONE: only decoded. */
enum builtin_kind {
	BI_NONE,
	BI_TRANSFER, BI_APPROVE, BI_TRANSFER_FROM, BI_PERMIT,
	BI_NFT_SAFE_TRANSFER, BI_APPROVAL_FOR_ALL,
	BI_1155_TRANSFER, BI_1155_BATCH,
	BI_DEPOSIT, BI_WITHDRAW,
	BI_P2_APPROVE, BI_P2_PERMIT, BI_P2_PERMIT_BATCH, BI_P2_TRANSFER_FROM,
	BI_SAFE_EXEC, BI_MULTISEND, BI_MULTICALL, BI_MULTICALL_DEADLINE,
};

static const struct {
	const char *sig;		/* with parameter names, for the display */
	enum builtin_kind kind;
} builtins[] = {
	/* ERC-20 (transferFrom and approve are ERC-721's too) */
	{ "transfer(address to,uint256 amount)", BI_TRANSFER },
	{ "approve(address spender,uint256 amount)", BI_APPROVE },
	{ "transferFrom(address from,address to,uint256 amount)", BI_TRANSFER_FROM },
	{ "permit(address owner,address spender,uint256 value,uint256 deadline,"
	  "uint8 v,bytes32 r,bytes32 s)", BI_PERMIT },
	{ "increaseAllowance(address spender,uint256 addedValue)", BI_NONE },
	{ "decreaseAllowance(address spender,uint256 subtractedValue)", BI_NONE },
	/* ERC-721 */
	{ "safeTransferFrom(address from,address to,uint256 tokenId)", BI_NFT_SAFE_TRANSFER },
	{ "safeTransferFrom(address from,address to,uint256 tokenId,bytes data)",
	  BI_NFT_SAFE_TRANSFER },
	{ "setApprovalForAll(address operator,bool approved)", BI_APPROVAL_FOR_ALL },
	/* ERC-1155 */
	{ "safeTransferFrom(address from,address to,uint256 id,uint256 amount,bytes data)",
	  BI_1155_TRANSFER },
	{ "safeBatchTransferFrom(address from,address to,uint256[] ids,uint256[] amounts,"
	  "bytes data)", BI_1155_BATCH },
	/* WETH */
	{ "deposit()", BI_DEPOSIT },
	{ "withdraw(uint256 amount)", BI_WITHDRAW },
	/* Uniswap's Permit2 */
	{ "approve(address token,address spender,uint160 amount,uint48 expiration)",
	  BI_P2_APPROVE },
	{ "permit(address owner,((address token,uint160 amount,uint48 expiration,"
	  "uint48 nonce) details,address spender,uint256 sigDeadline) permitSingle,"
	  "bytes signature)", BI_P2_PERMIT },
	{ "permit(address owner,((address token,uint160 amount,uint48 expiration,"
	  "uint48 nonce)[] details,address spender,uint256 sigDeadline) permitBatch,"
	  "bytes signature)", BI_P2_PERMIT_BATCH },
	{ "transferFrom(address from,address to,uint160 amount,address token)",
	  BI_P2_TRANSFER_FROM },
	/* Safe */
	{ "execTransaction(address to,uint256 value,bytes data,uint8 operation,"
	  "uint256 safeTxGas,uint256 baseGas,uint256 gasPrice,address gasToken,"
	  "address refundReceiver,bytes signatures)", BI_SAFE_EXEC },
	{ "multiSend(bytes transactions)", BI_MULTISEND },
	/* multicall (Uniswap periphery and its many copies) */
	{ "multicall(bytes[] data)", BI_MULTICALL },
	{ "multicall(uint256 deadline,bytes[] data)", BI_MULTICALL_DEADLINE },
	/* named only: calls that hand over a contract or its keys */
	{ "mint(address to,uint256 amount)", BI_NONE },
	{ "burn(uint256 amount)", BI_NONE },
	{ "delegate(address delegatee)", BI_NONE },
	{ "transferOwnership(address newOwner)", BI_NONE },
	{ "renounceOwnership()", BI_NONE },
	{ "upgradeTo(address newImplementation)", BI_NONE },
	{ "upgradeToAndCall(address newImplementation,bytes data)", BI_NONE },
	{ "swapExactTokensForTokens(uint256 amountIn,uint256 amountOutMin,address[] path,"
	  "address to,uint256 deadline)", BI_NONE },
	{ "swapExactETHForTokens(uint256 amountOutMin,address[] path,address to,"
	  "uint256 deadline)", BI_NONE },
	{ "swapExactTokensForETH(uint256 amountIn,uint256 amountOutMin,address[] path,"
	  "address to,uint256 deadline)", BI_NONE },
};
#define NBUILTINS (sizeof(builtins) / sizeof(builtins[0]))

enum source { SRC_BUILTIN, SRC_4BYTEDB, SRC_CALLER };
static const char *const source_names[] = { "builtin", "4bytedb", "caller" };

struct entry {
	uint8_t selector[4];
	uint8_t source;			/* enum source */
	uint8_t kind;			/* enum builtin_kind */
	char *canonical;		/* what is compared and hashed */
	const char *display;		/* builtins: with names; else canonical */
};

struct eth_calldata_db {
	struct entry *e;		/* sorted by selector, then canonical */
	size_t n, cap;
};

static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = memcmp(x->selector, y->selector, 4);

	return c != 0 ? c : strcmp(x->canonical, y->canonical);
}

/* Add a signature unless its canonical form is there already (first wins). */
static int
db_add(struct eth_calldata_db *db, const char *sig, size_t len, enum source src,
    enum builtin_kind kind, const uint8_t *want_selector, char *why)
{
	struct eth_abi_fn *fn = NULL;
	struct entry e, *grown;
	size_t i;
	int r;

	if ((r = eth_abi_fn_parse(sig, len, &fn)) != 0) {
		r = err_why(why, ERR_4BYTEDB_INVALID, "%.*s: %s",
		    (int)(len > 80 ? 80 : len), sig, err_str(r));
		goto out;
	}
	eth_abi_fn_selector(fn, e.selector);
	if (want_selector != NULL && memcmp(e.selector, want_selector, 4) != 0) {
		r = err_why(why, ERR_4BYTEDB_INVALID,
		    "%.80s: its selector is 0x%02x%02x%02x%02x, not its key",
		    eth_abi_fn_signature(fn), e.selector[0], e.selector[1],
		    e.selector[2], e.selector[3]);
		goto out;
	}
	/* linear only while building the built-in table; loads sort and dedupe */
	if (src == SRC_BUILTIN)
		for (i = 0; i < db->n; i++)
			if (strcmp(db->e[i].canonical, eth_abi_fn_signature(fn)) == 0) {
				r = 0;
				goto out;
			}
	if (db->n == db->cap) {
		size_t cap = db->cap == 0 ? 64 : db->cap * 2;

		if ((grown = reallocarray(db->e, cap, sizeof(*db->e))) == NULL) {
			r = ERR_NOMEM;
			goto out;
		}
		db->e = grown;
		db->cap = cap;
	}
	if ((e.canonical = strdup(eth_abi_fn_signature(fn))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	e.source = (uint8_t)src;
	e.kind = (uint8_t)kind;
	e.display = src == SRC_BUILTIN ? sig : e.canonical;
	db->e[db->n++] = e;
	/* success */
	r = 0;
out:
	eth_abi_fn_free(fn);
	return r;
}

/* Sort, then drop a later entry whose selector and signature repeat one before. */
static void
db_sort(struct eth_calldata_db *db)
{
	size_t i, o = 0;

	qsort(db->e, db->n, sizeof(*db->e), entry_cmp);
	for (i = 0; i < db->n; i++) {
		if (o > 0 && entry_cmp(&db->e[o - 1], &db->e[i]) == 0) {
			/* keep the one with names and a summary */
			if (db->e[i].source < db->e[o - 1].source) {
				struct entry t = db->e[o - 1];

				db->e[o - 1] = db->e[i];
				db->e[i] = t;
			}
			free(db->e[i].canonical);
			continue;
		}
		db->e[o++] = db->e[i];
	}
	db->n = o;
}

int
eth_calldata_db_new(struct eth_calldata_db **dbp)
{
	struct eth_calldata_db *db = NULL;
	size_t i;
	int r;

	*dbp = NULL;
	if ((db = calloc(1, sizeof(*db))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < NBUILTINS; i++)
		if ((r = db_add(db, builtins[i].sig, strlen(builtins[i].sig), SRC_BUILTIN,
		    builtins[i].kind, NULL, NULL)) != 0)
			goto out;
	db_sort(db);
	/* success */
	*dbp = db;
	db = NULL;
	r = 0;
out:
	eth_calldata_db_free(db);
	return r;
}

int
eth_calldata_db_load_4byte(struct eth_calldata_db *db, const char *untrusted,
    size_t len, char why[ERR_WHY_MAX])
{
	json_error_t jerr;
	json_t *root = NULL, *v, *item;
	const char *key;
	uint8_t sel[4];
	size_t count = 0, i, before = db->n;
	int r;

	if (why != NULL)
		why[0] = '\0';
	if (len > LIMIT_4BYTEDB_BYTES) {
		r = err_why(why, ERR_TOO_LONG, "longer than %d bytes", LIMIT_4BYTEDB_BYTES);
		goto out;
	}
	if ((root = json_loadb(untrusted, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		r = err_why(why, ERR_4BYTEDB_INVALID, "line %d: %.100s", jerr.line, jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		r = err_why(why, ERR_4BYTEDB_INVALID,
		    "not an object of selectors and signatures");
		goto out;
	}
	json_object_foreach(root, key, v) {
		char prefixed[11];

		snprintf(prefixed, sizeof(prefixed), "0x%.8s", key);
		if (strlen(key) != 8 || eth_hex_decode_fixed(prefixed, 10, sel, 4) != 0) {
			r = err_why(why, ERR_4BYTEDB_INVALID,
			    "key \"%.20s\" is not 8 hex digits", key);
			goto out;
		}
		if (!json_is_string(v) && !json_is_array(v)) {
			r = err_why(why, ERR_4BYTEDB_INVALID,
			    "%s: not a signature or a list of them", key);
			goto out;
		}
		for (i = 0; i < (json_is_array(v) ? json_array_size(v) : 1); i++) {
			item = json_is_array(v) ? json_array_get(v, i) : v;
			if (!json_is_string(item)) {
				r = err_why(why, ERR_4BYTEDB_INVALID, "%s: not a signature", key);
				goto out;
			}
			if (++count > LIMIT_4BYTEDB_ENTRIES) {
				r = err_why(why, ERR_TOO_MANY, "more than %d signatures",
				    LIMIT_4BYTEDB_ENTRIES);
				goto out;
			}
			if ((r = db_add(db, json_string_value(item), json_string_length(item),
			    SRC_4BYTEDB, BI_NONE, sel, why)) != 0)
				goto out;
		}
	}
	db_sort(db);
	before = db->n;
	/* success */
	r = 0;
out:
	/* a refused file adds nothing */
	while (db->n > before)
		free(db->e[--db->n].canonical);
	json_decref(root);
	return r;
}

size_t
eth_calldata_db_size(const struct eth_calldata_db *db)
{
	return db->n;
}

void
eth_calldata_db_free(struct eth_calldata_db *db)
{
	size_t i;

	if (db == NULL)
		return;
	for (i = 0; i < db->n; i++)
		free(db->e[i].canonical);
	free(db->e);
	free(db);
}

/* ---- decoding ---- */

struct decode_ctx {
	const struct eth_calldata_db *db;
	const struct eth_u256 *chain_id;
	size_t budget;			/* values left, LIMIT_ABI_VALUES in all */
};

static int decode_call(struct decode_ctx *x, const uint8_t to[ETH_ADDR_LEN],
    const uint8_t *data, size_t len, const char *caller_sig, unsigned depth,
    json_t **callp);

/* The string value of args[i] (or of member i of a tuple value). */
static const char *
arg_str(const json_t *args, size_t i)
{
	return json_string_value(json_object_get(json_array_get(args, i), "value"));
}

static int
arg_u256(const json_t *args, size_t i, struct eth_u256 *out)
{
	const char *s = arg_str(args, i);

	return s != NULL ? eth_u256_parse_decimal(s, strlen(s), out) : ERR_INTERNAL;
}

static int
arg_addr(const json_t *args, size_t i, uint8_t out[ETH_ADDR_LEN])
{
	const char *s = arg_str(args, i);

	return s != NULL ? eth_addr_parse(s, strlen(s), out, NULL) : ERR_INTERNAL;
}

/* The bytes of a "0x..." value; caller frees *outp. */
static int
arg_bytes(const json_t *v, uint8_t **outp, size_t *lenp)
{
	const char *s = json_string_value(json_object_get(v, "value"));

	*outp = NULL;
	return s != NULL ? eth_hex_decode(s, strlen(s), LIMIT_TX_DATA_BYTES, outp, lenp) :
	    ERR_INTERNAL;
}

static const char *
short_addr(const uint8_t a[ETH_ADDR_LEN], char out[ETH_DISPLAY_SHORT_ADDR_MAX])
{
	eth_display_short_address(a, out);
	return out;
}

/*
 * "250.0 of token 0xA0b8…eB48" or "250000000 units of token 0x…"; 1 when
 * the token is a known one (whose amounts are not NFT ids).
 */
static int
amount_text(const struct decode_ctx *x, const uint8_t token[ETH_ADDR_LEN],
    const struct eth_u256 *amount, char *out, size_t n)
{
	char units[ETH_DISPLAY_UNITS_MAX], sa[ETH_DISPLAY_SHORT_ADDR_MAX];
	unsigned decimals = 0;

	if (eth_display_token(x->chain_id, token, &decimals) != NULL) {
		eth_display_units(amount, decimals, units);
		snprintf(out, n, "%s of token %s", units, short_addr(token, sa));
		return 1;
	}
	eth_u256_to_decimal(amount, units);
	snprintf(out, n, "%s units of token %s", units, short_addr(token, sa));
	return 0;
}

/* 2^bits - 1: the "everything" an approval may grant. */
static int
is_max(const struct eth_u256 *v, unsigned bits)
{
	struct eth_u256 one, w;

	eth_u256_from_u64(&one, 1);
	return eth_u256_bits(v) == bits && eth_u256_add(&w, v, &one) == (bits == 256) &&
	    eth_u256_bits(&w) == (bits == 256 ? 0 : bits + 1);
}

/*
 * The amount an approval of token grants, for a summary: "an UNLIMITED
 * amount" at 2^bits - 1 (returns 1 then), else amount_text().
 */
static int
allowance_text(const struct decode_ctx *x, const uint8_t token[ETH_ADDR_LEN],
    const struct eth_u256 *amount, unsigned bits, char *out, size_t n)
{
	if (is_max(amount, bits)) {
		snprintf(out, n, "an UNLIMITED amount");
		return 1;
	}
	amount_text(x, token, amount, out, n);
	return 0;
}

static int
set_summary(json_t *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
set_summary(json_t *call, const char *fmt, ...)
{
	char s[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s, sizeof(s), fmt, ap);
	va_end(ap);
	return json_object_set_new(call, "summary", json_string(s)) == 0 ? 0 : ERR_NOMEM;
}

/* {"operation", "to", "value_wei", "data_bytes", "call"} */
static int
add_inner(struct decode_ctx *x, json_t *calls, unsigned op, const uint8_t to[ETH_ADDR_LEN],
    const struct eth_u256 *value, const uint8_t *data, size_t len, unsigned depth)
{
	char addr[ETH_ADDR_STR], wei[ETH_U256_DECIMAL_MAX];
	json_t *inner = NULL, *o;
	int r;

	/* an inner call is a value too: batches of empty calls are bounded as well */
	if (x->budget == 0)
		return ERR_TOO_MANY;
	x->budget--;
	if (depth < LIMIT_ABI_CALL_NESTING &&
	    (r = decode_call(x, to, data, len, NULL, depth + 1, &inner)) != 0)
		return r;
	eth_addr_to_checksum(to, addr);
	eth_u256_to_decimal(value, wei);
	o = json_pack("{s:i,s:s,s:s,s:I,s:o?}", "operation", (int)op, "to", addr,
	    "value_wei", wei, "data_bytes", (json_int_t)len, "call", inner);
	return o != NULL && json_array_append_new(calls, o) == 0 ? 0 : ERR_NOMEM;
}

/* Safe's multiSend: op (1) || to (20) || value (32) || length (32) || data, repeated. */
static int
multisend(struct decode_ctx *x, json_t *call, const json_t *args, unsigned depth,
    size_t *ncallsp)
{
	struct eth_u256 value, dlen;
	uint8_t *p = NULL;
	size_t len, at = 0, n = 0;
	uint64_t dl;
	json_t *calls;
	const char *why = NULL;
	int r;

	*ncallsp = 0;
	if ((calls = json_array()) == NULL || json_object_set_new(call, "calls", calls) != 0)
		return ERR_NOMEM;
	if ((r = arg_bytes(json_array_get(args, 0), &p, &len)) != 0)
		goto out;
	while (at < len) {
		if (len - at < 1 + 20 + 32 + 32) {
			why = "a call is cut short";
			break;
		}
		eth_u256_from_be(p + at + 21, 32, &value);
		eth_u256_from_be(p + at + 53, 32, &dlen);
		if (eth_u256_to_u64(&dlen, &dl) != 0 || dl > len - at - 85) {
			why = "a call's data runs past the end";
			break;
		}
		if (p[at] > 1) {
			why = "an operation is neither 0 (call) nor 1 (delegatecall)";
			break;
		}
		if (++n > LIMIT_ABI_INNER_CALLS) {
			why = "too many calls";
			break;
		}
		if ((r = add_inner(x, calls, p[at], p + at + 1, &value, p + at + 85, (size_t)dl,
		    depth)) == ERR_TOO_MANY) {
			why = "more values than the decoder shows";
			break;
		}
		if (r != 0)
			goto out;
		at += 85 + (size_t)dl;
	}
	if (why != NULL && (json_object_set_new(call, "status", json_string("undecodable")) != 0 ||
	    json_object_set_new(call, "error", json_string(why)) != 0)) {
		r = ERR_NOMEM;
		goto out;
	}
	*ncallsp = n;
	r = 0;
out:
	free(p);
	return r;
}

/* Each item of a bytes[] argument is a call to the same contract. */
static int
multicall(struct decode_ctx *x, json_t *call, const json_t *items,
    const uint8_t to[ETH_ADDR_LEN], unsigned depth)
{
	struct eth_u256 zero;
	uint8_t *p;
	size_t i, len;
	json_t *calls;
	int r = 0;

	eth_u256_from_u64(&zero, 0);
	if ((calls = json_array()) == NULL || json_object_set_new(call, "calls", calls) != 0)
		return ERR_NOMEM;
	for (i = 0; r == 0 && i < json_array_size(items) && i < LIMIT_ABI_INNER_CALLS; i++) {
		if ((r = arg_bytes(json_array_get(items, i), &p, &len)) != 0)
			break;
		r = add_inner(x, calls, 0, to, &zero, p, len, depth);
		free(p);
	}
	if (r == ERR_TOO_MANY) {
		r = json_object_set_new(call, "status", json_string("undecodable")) == 0 &&
		    json_object_set_new(call, "error",
		    json_string("more values than the decoder shows")) == 0 ? 0 : ERR_NOMEM;
		return r;
	}
	if (r == 0 && json_array_size(items) > LIMIT_ABI_INNER_CALLS &&
	    (json_object_set_new(call, "status", json_string("undecodable")) != 0 ||
	    json_object_set_new(call, "error", json_string("too many calls")) != 0))
		r = ERR_NOMEM;
	return r;
}

/* Summary, unlimited and inner calls of a built-in call; args decoded. */
static int
describe(struct decode_ctx *x, enum builtin_kind kind, const uint8_t to[ETH_ADDR_LEN],
    const json_t *args, json_t *call, unsigned depth)
{
	char a1[ETH_DISPLAY_SHORT_ADDR_MAX], a2[ETH_DISPLAY_SHORT_ADDR_MAX];
	char t[ETH_DISPLAY_SHORT_ADDR_MAX], amt[256], num[ETH_U256_DECIMAL_MAX];
	uint8_t ad1[ETH_ADDR_LEN], ad2[ETH_ADDR_LEN], tok[ETH_ADDR_LEN];
	struct eth_u256 v, v2;
	const json_t *tuple, *details;
	uint8_t *p = NULL;
	size_t len, n;
	int r = 0, unlimited = 0, known;

	short_addr(to, t);
	switch (kind) {
	case BI_NONE:
		return 0;
	case BI_TRANSFER:
		if (arg_addr(args, 0, ad1) != 0 || arg_u256(args, 1, &v) != 0)
			return ERR_INTERNAL;
		amount_text(x, to, &v, amt, sizeof(amt));
		r = set_summary(call, "transfer %s to %s", amt, short_addr(ad1, a1));
		break;
	case BI_APPROVE:
		if (arg_addr(args, 0, ad1) != 0 || arg_u256(args, 1, &v) != 0)
			return ERR_INTERNAL;
		unlimited = is_max(&v, 256);
		known = amount_text(x, to, &v, amt, sizeof(amt));
		if (unlimited)
			r = set_summary(call, "approve %s to spend an UNLIMITED amount of token %s",
			    short_addr(ad1, a1), t);
		else if (eth_u256_is_zero(&v))
			r = set_summary(call, "revoke the approval of %s for token %s",
			    short_addr(ad1, a1), t);
		else
			r = set_summary(call, "approve %s to spend %s%s", short_addr(ad1, a1), amt,
			    known ? "" : " (or: the NFT with that id)");
		break;
	case BI_TRANSFER_FROM:
		if (arg_addr(args, 0, ad1) != 0 || arg_addr(args, 1, ad2) != 0 ||
		    arg_u256(args, 2, &v) != 0)
			return ERR_INTERNAL;
		known = amount_text(x, to, &v, amt, sizeof(amt));
		r = set_summary(call, "move %s%s from %s to %s", amt,
		    known ? "" : " (or: the NFT with that id)", short_addr(ad1, a1),
		    short_addr(ad2, a2));
		break;
	case BI_PERMIT:
		if (arg_addr(args, 1, ad1) != 0 || arg_u256(args, 2, &v) != 0)
			return ERR_INTERNAL;
		unlimited = allowance_text(x, to, &v, 256, amt, sizeof(amt));
		r = set_summary(call, "permit %s to spend %s", short_addr(ad1, a1), amt);
		break;
	case BI_NFT_SAFE_TRANSFER:
		if (arg_addr(args, 0, ad1) != 0 || arg_addr(args, 1, ad2) != 0 ||
		    arg_str(args, 2) == NULL)
			return ERR_INTERNAL;
		r = set_summary(call, "transfer the NFT with id %s of collection %s from %s to %s",
		    arg_str(args, 2), t, short_addr(ad1, a1), short_addr(ad2, a2));
		break;
	case BI_APPROVAL_FOR_ALL:
		if (arg_addr(args, 0, ad1) != 0)
			return ERR_INTERNAL;
		unlimited = json_is_true(json_object_get(json_array_get(args, 1), "value"));
		r = set_summary(call, unlimited ? "allow %s to move ALL tokens of %s, now and later" :
		    "revoke the approval of %s for all tokens of %s", short_addr(ad1, a1), t);
		break;
	case BI_1155_TRANSFER:
		if (arg_addr(args, 0, ad1) != 0 || arg_addr(args, 1, ad2) != 0 ||
		    arg_str(args, 2) == NULL || arg_str(args, 3) == NULL)
			return ERR_INTERNAL;
		r = set_summary(call, "transfer %s of id %s of token %s from %s to %s",
		    arg_str(args, 3), arg_str(args, 2), t, short_addr(ad1, a1), short_addr(ad2, a2));
		break;
	case BI_1155_BATCH:
		if (arg_addr(args, 0, ad1) != 0 || arg_addr(args, 1, ad2) != 0)
			return ERR_INTERNAL;
		n = json_array_size(json_object_get(json_array_get(args, 2), "value"));
		r = set_summary(call, "transfer %zu ids of token %s from %s to %s", n, t,
		    short_addr(ad1, a1), short_addr(ad2, a2));
		break;
	case BI_DEPOSIT:
		r = set_summary(call, "deposit the transaction's value into %s", t);
		break;
	case BI_WITHDRAW:
		if (arg_u256(args, 0, &v) != 0)
			return ERR_INTERNAL;
		amount_text(x, to, &v, amt, sizeof(amt));
		r = set_summary(call, "withdraw %s", amt);
		break;
	case BI_P2_APPROVE:
		if (arg_addr(args, 0, tok) != 0 || arg_addr(args, 1, ad1) != 0 ||
		    arg_u256(args, 2, &v) != 0 || arg_str(args, 3) == NULL)
			return ERR_INTERNAL;
		unlimited = allowance_text(x, tok, &v, 160, amt, sizeof(amt));
		r = set_summary(call, "Permit2: approve %s to spend %s until %s", short_addr(ad1, a1),
		    amt, arg_str(args, 3));
		break;
	case BI_P2_PERMIT:
	case BI_P2_PERMIT_BATCH:
		/* (details, spender, sigDeadline); details (token, amount, expiration, nonce) */
		tuple = json_object_get(json_array_get(args, 1), "value");
		if (arg_addr(tuple, 1, ad1) != 0)
			return ERR_INTERNAL;
		details = json_object_get(json_array_get(tuple, 0), "value");
		if (kind == BI_P2_PERMIT_BATCH) {
			n = json_array_size(details);
			r = set_summary(call, "Permit2: let %s spend %zu tokens", short_addr(ad1, a1), n);
			json_array_foreach(details, len, tuple) {
				if (arg_u256(json_object_get(tuple, "value"), 1, &v) == 0 &&
				    is_max(&v, 160))
					unlimited = 1;
			}
			break;
		}
		if (arg_addr(details, 0, tok) != 0 || arg_u256(details, 1, &v) != 0)
			return ERR_INTERNAL;
		unlimited = allowance_text(x, tok, &v, 160, amt, sizeof(amt));
		r = set_summary(call, "Permit2: let %s spend %s", short_addr(ad1, a1), amt);
		break;
	case BI_P2_TRANSFER_FROM:
		if (arg_addr(args, 0, ad1) != 0 || arg_addr(args, 1, ad2) != 0 ||
		    arg_u256(args, 2, &v) != 0 || arg_addr(args, 3, tok) != 0)
			return ERR_INTERNAL;
		amount_text(x, tok, &v, amt, sizeof(amt));
		r = set_summary(call, "Permit2: move %s from %s to %s", amt, short_addr(ad1, a1),
		    short_addr(ad2, a2));
		break;
	case BI_SAFE_EXEC:
		if (arg_addr(args, 0, ad1) != 0 || arg_u256(args, 1, &v) != 0 ||
		    arg_u256(args, 3, &v2) != 0 ||
		    arg_bytes(json_array_get(args, 2), &p, &len) != 0)
			return ERR_INTERNAL;
		eth_u256_to_decimal(&v, num);
		if ((r = set_summary(call, "Safe: %s %s with %s wei",
		    eth_u256_is_zero(&v2) ? "call" : "DELEGATECALL", short_addr(ad1, a1), num)) == 0) {
			json_t *calls = json_array();

			if (calls == NULL || json_object_set_new(call, "calls", calls) != 0)
				r = ERR_NOMEM;
			else if ((r = add_inner(x, calls, eth_u256_is_zero(&v2) ? 0 : 1, ad1, &v,
			    p, len, depth)) == ERR_TOO_MANY)
				r = json_object_set_new(call, "status", json_string("undecodable")) == 0 &&
				    json_object_set_new(call, "error",
				    json_string("more values than the decoder shows")) == 0 ? 0 : ERR_NOMEM;
		}
		free(p);
		break;
	case BI_MULTISEND:
		if ((r = multisend(x, call, args, depth, &n)) == 0)
			r = set_summary(call, "Safe multiSend of %zu calls", n);
		break;
	case BI_MULTICALL:
	case BI_MULTICALL_DEADLINE:
		details = json_object_get(json_array_get(args, kind == BI_MULTICALL ? 0 : 1), "value");
		if ((r = multicall(x, call, details, to, depth)) == 0)
			r = set_summary(call, "multicall of %zu calls to %s", json_array_size(details), t);
		break;
	}
	/* an unlimited approval inside a batch makes the batch one: a UI looks at the top */
	if (r == 0)
		json_array_foreach(json_object_get(call, "calls"), len, tuple)
			if (json_is_true(json_object_get(json_object_get(tuple, "call"), "unlimited")))
				unlimited = 1;
	if (r == 0 && unlimited && json_object_set_new(call, "unlimited", json_true()) != 0)
		r = ERR_NOMEM;
	return r;
}

/*
 * Once the inner calls are decoded from them, long bytes and strings are cut
 * to LIMIT_ABI_SHOWN_BYTES for the approver and the log: {"value": the first
 * bytes, "bytes": the whole length, "truncated": true}.  A string is cut at a
 * character boundary.  The raw data stays what is signed and can be shown.
 */
static int
shorten_values(json_t *args, unsigned depth)
{
	const char *type, *s, *key;
	json_t *a, *v, *cut;
	size_t i, n, keep;

	if (depth > LIMIT_ABI_DEPTH + 1)
		return 0;
	json_array_foreach(args, i, a) {
		v = json_object_get(a, "value");
		if (json_is_array(v)) {
			if (shorten_values(v, depth + 1) != 0)
				return ERR_NOMEM;
			continue;
		}
		type = json_string_value(json_object_get(a, "type"));
		key = "value";
		if (v == NULL) {	/* a string that is not UTF-8, as hex */
			key = "value_hex";
			v = json_object_get(a, key);
		}
		if (type == NULL || (s = json_string_value(v)) == NULL)
			continue;
		n = json_string_length(v);
		if ((strcmp(type, "bytes") == 0 || strcmp(key, "value_hex") == 0) &&
		    n > 2 + 2 * LIMIT_ABI_SHOWN_BYTES) {
			keep = 2 + 2 * LIMIT_ABI_SHOWN_BYTES;
			n = (n - 2) / 2;
		} else if (strcmp(type, "string") == 0 && n > LIMIT_ABI_SHOWN_BYTES) {
			for (keep = LIMIT_ABI_SHOWN_BYTES; keep > 0 &&
			    ((unsigned char)s[keep] & 0xc0) == 0x80; keep--)
				;
		} else
			continue;
		if ((cut = json_stringn(s, keep)) == NULL ||
		    json_object_set_new(a, key, cut) != 0 ||
		    json_object_set_new(a, "bytes", json_integer((json_int_t)n)) != 0 ||
		    json_object_set_new(a, "truncated", json_true()) != 0)
			return ERR_NOMEM;
	}
	return 0;
}

static int
decode_call(struct decode_ctx *x, const uint8_t to[ETH_ADDR_LEN], const uint8_t *data,
    size_t len, const char *caller_sig, unsigned depth, json_t **callp)
{
	const struct eth_calldata_db *db = x->db;
	struct eth_abi_fn *fn = NULL, *cfn = NULL;
	const struct entry *first = NULL, *e;
	struct entry key;
	char sel[11], why[ERR_WHY_MAX];
	const char *chosen = NULL, *source = NULL;
	size_t lo = 0, hi = db->n, mid, i, nmatch = 0;
	enum builtin_kind kind = BI_NONE;
	json_t *call = NULL, *cands = NULL, *args = NULL;
	uint8_t csel[4];
	int r;

	*callp = NULL;
	if (to == NULL || len < 4) {
		r = 0;
		goto out;
	}
	snprintf(sel, sizeof(sel), "0x%02x%02x%02x%02x", data[0], data[1], data[2], data[3]);
	if ((call = json_pack("{s:s}", "selector", sel)) == NULL ||
	    (cands = json_array()) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	/* the first entry with this selector */
	memcpy(key.selector, data, 4);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (memcmp(db->e[mid].selector, key.selector, 4) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < db->n && memcmp(db->e[i].selector, data, 4) == 0; i++) {
		e = &db->e[i];
		if (first == NULL)
			first = e;
		nmatch++;
		if (json_array_append_new(cands, json_string(e->canonical)) != 0) {
			r = ERR_NOMEM;
			goto out;
		}
	}
	if (first != NULL) {
		chosen = first->display;
		source = source_names[first->source];
		kind = (enum builtin_kind)first->kind;
	}
	/* the caller's signature: one more candidate, if it is one */
	if (caller_sig != NULL &&
	    eth_abi_fn_parse(caller_sig, strlen(caller_sig), &cfn) == 0) {
		eth_abi_fn_selector(cfn, csel);
		if (memcmp(csel, data, 4) == 0) {
			int seen = 0;

			for (i = 0; i < json_array_size(cands); i++)
				if (strcmp(json_string_value(json_array_get(cands, i)),
				    eth_abi_fn_signature(cfn)) == 0)
					seen = 1;
			if (!seen) {
				nmatch++;
				if (json_array_append_new(cands,
				    json_string(eth_abi_fn_signature(cfn))) != 0) {
					r = ERR_NOMEM;
					goto out;
				}
				if (chosen == NULL) {
					chosen = eth_abi_fn_signature(cfn);
					source = source_names[SRC_CALLER];
				}
			}
		}
	}
	if (nmatch == 0) {
		r = json_object_set_new(call, "status", json_string("unknown")) == 0 ? 0 : ERR_NOMEM;
		goto done;
	}
	if (nmatch > 1) {
		r = json_object_set_new(call, "status", json_string("ambiguous")) == 0 &&
		    json_object_set(call, "candidates", cands) == 0 ? 0 : ERR_NOMEM;
		goto done;
	}
	if ((r = eth_abi_fn_parse(chosen, strlen(chosen), &fn)) != 0)
		goto out;	/* cannot happen: every entry parsed when added */
	if (json_object_set_new(call, "signature", json_string(eth_abi_fn_signature(fn))) != 0 ||
	    json_object_set_new(call, "source", json_string(source)) != 0) {
		r = ERR_NOMEM;
		goto out;
	}
	r = eth_abi_decode(fn, data + 4, len - 4, &x->budget, &args, why);
	if (r == ERR_NOMEM)
		goto out;
	if (r != 0) {
		r = json_object_set_new(call, "status", json_string("undecodable")) == 0 &&
		    json_object_set_new(call, "error", json_string(why[0] != '\0' ? why :
		    err_str(r))) == 0 ? 0 : ERR_NOMEM;
		goto done;
	}
	if (json_object_set_new(call, "status", json_string("decoded")) != 0 ||
	    json_object_set_new(call, "name", json_string(eth_abi_fn_name(fn))) != 0 ||
	    json_object_set(call, "args", args) != 0) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((r = describe(x, kind, to, args, call, depth)) != 0 ||
	    (r = shorten_values(args, 0)) != 0)
		goto out;
done:
	if (r != 0)
		goto out;
	/* success */
	*callp = call;
	call = NULL;
	r = 0;
out:
	eth_abi_fn_free(fn);
	eth_abi_fn_free(cfn);
	json_decref(args);
	json_decref(cands);
	json_decref(call);
	return r;
}

int
eth_calldata_decode(const struct eth_calldata_db *db, const struct eth_u256 *chain_id,
    const uint8_t *to, const uint8_t *data, size_t data_len, const char *caller_sig,
    json_t **callp)
{
	struct decode_ctx x = { db, chain_id, LIMIT_ABI_VALUES };

	return decode_call(&x, to, data, data_len, caller_sig, 0, callp);
}
