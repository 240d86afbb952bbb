/*
 * EIP-712 typed data: Clef's own vectors (tests/vectors/clef-eip712, with
 * the outcomes its EXPECTED.md states, listed in tests/vectors/eip712/clef.json),
 * the 123 array cases of apitypes/typed-data.json, values of every primitive
 * type accepted and refused (values.json), and malformed documents
 * (structure.json).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eth/eip712.h"
#include "core/err.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "eth/u256.h"
#include "tvec.h"

static json_t *
load_clef(const char *file)
{
	char path[1024];
	json_error_t jerr;
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s", tvec_clef_dir(), file);
	j = json_load_file(path, JSON_DECODE_ANY, &jerr);
	if (j == NULL)
		print_error("%s: %s (line %d)\n", path, jerr.text, jerr.line);
	return j;
}

static void
assert_digest(const uint8_t got[32], const char *want_hex)
{
	char hex[67];

	eth_hex_encode_to(got, 32, hex);
	assert_string_equal(hex, want_hex);
}

/* One entry of clef.json: a file of Clef's vector folder and its outcome. */
static void
test_clef_case(void **state)
{
	const json_t *c = *state;
	const char *kind = tvec_str(c, "kind");
	json_t *doc = load_clef(tvec_str(c, "file")), *typed = NULL;
	const json_t *want = json_object_get(c, "digest");
	struct eth_eip712_result res;
	struct eth_u256 chain;
	char err[ERR_WHY_MAX];
	const char *cid;
	int r;

	/* Every file listed, fuzz seeds included, is JSON: a missing or
	 * unreadable one fails here rather than passing as "refused". */
	assert_non_null(doc);
	if (strcmp(kind, "gnosis") == 0) {
		cid = tvec_str(c, "chainid");
		assert_int_equal(eth_u256_parse_decimal(cid, strlen(cid), &chain), 0);
		r = eth_eip712_from_gnosis_safe_tx(doc, &chain, &typed, &res, err);
	} else
		r = eth_eip712_hash(doc, &res, 1, err);
	if (want != NULL) {
		if (r != 0)
			print_error("refused: %s\n", err);
		assert_int_equal(r, 0);
		assert_digest(res.digest, json_string_value(want));
		assert_non_null(res.messages);
		assert_int_equal(json_array_size(res.messages), 2);
		if (typed != NULL) {
			/* The typed data handed back hashes to the same digest. */
			uint8_t again[32];

			assert_int_equal(eth_eip712_digest(typed, again, NULL), 0);
			assert_memory_equal(again, res.digest, 32);
		}
		eth_eip712_result_clear(&res);
	} else {
		assert_true(r < 0);
		assert_true(err[0] != '\0');
		assert_null(res.messages);
		assert_null(typed);
	}
	json_decref(typed);
	json_decref(doc);
}

/* One case of apitypes/typed-data.json: {name, domain, primaryType, types, data, digest}. */
static void
test_apitypes_case(void **state)
{
	const json_t *c = *state;
	json_t *doc;
	uint8_t digest[32];
	char err[ERR_WHY_MAX];
	int r;

	doc = json_pack("{s:O,s:O,s:O,s:O}", "types", json_object_get(c, "types"),
	    "primaryType", json_object_get(c, "primaryType"),
	    "domain", json_object_get(c, "domain"), "message", json_object_get(c, "data"));
	assert_non_null(doc);
	r = eth_eip712_digest(doc, digest, err);
	if (r != 0)
		print_error("refused: %s\n", err);
	assert_int_equal(r, 0);
	assert_digest(digest, tvec_str(c, "digest"));
	json_decref(doc);
}

/*
 * values.json: {type, value, ok, enc?, error?}, hashed as the only field f of
 * a struct T.  enc is the field's 32-byte encoding: the message hash must then
 * be keccak256(keccak256("T(<type> f)") || enc).
 */
static void
test_value_case(void **state)
{
	const json_t *c = *state;
	const char *type = tvec_str(c, "type");
	json_t *doc;
	struct eth_eip712_result res;
	char err[ERR_WHY_MAX];
	int r;

	doc = json_pack("{s:{s:[{s:s,s:s}],s:[{s:s,s:s}]},s:s,s:{s:s},s:{s:O}}",
	    "types", "EIP712Domain", "name", "name", "type", "string",
	    "T", "name", "f", "type", type,
	    "primaryType", "T", "domain", "name", "vectors",
	    "message", "f", json_object_get(c, "value"));
	assert_non_null(doc);
	r = eth_eip712_hash(doc, &res, 1, err);
	if (json_is_true(json_object_get(c, "ok"))) {
		const json_t *enc = json_object_get(c, "enc");

		if (r != 0)
			print_error("refused: %s\n", err);
		assert_int_equal(r, 0);
		if (enc != NULL) {
			uint8_t pre[64], want[32];
			char encode_type[128];
			size_t n;
			uint8_t *e = tvec_hex(json_string_value(enc), &n);

			assert_int_equal(n, 32);
			snprintf(encode_type, sizeof(encode_type), "T(%s f)", type);
			eth_keccak256(encode_type, strlen(encode_type), pre);
			memcpy(pre + 32, e, 32);
			eth_keccak256(pre, 64, want);
			assert_memory_equal(res.message_hash, want, 32);
			free(e);
		}
		eth_eip712_result_clear(&res);
	} else {
		if (r == 0)
			print_error("accepted what should be refused\n");
		assert_string_equal(err_name(r), tvec_str(c, "error"));
		assert_true(err[0] != '\0');
	}
	json_decref(doc);
}

static void
test_structure_refused(void **state)
{
	const json_t *c = *state;
	struct eth_eip712_result res;
	char err[ERR_WHY_MAX];
	int r;

	r = eth_eip712_hash(json_object_get(c, "data"), &res, 1, err);
	if (r == 0)
		print_error("accepted what should be refused\n");
	assert_string_equal(err_name(r), tvec_str(c, "error"));
	assert_true(err[0] != '\0');
	assert_null(res.messages);
}

static json_t *mail;

/*
 * The EIP's "Ether Mail" example, with the values go-ethereum's tests state
 * (TestEncodeType, TestTypeHash, TestHashStruct) and the tree shown for it.
 */
static void
test_ether_mail(void **state)
{
	struct eth_eip712_result res;
	char err[ERR_WHY_MAX];
	const json_t *dom, *msg, *from;

	(void)state;
	assert_int_equal(eth_eip712_hash(mail, &res, 1, err), 0);
	assert_digest(res.domain_separator,
	    "0xf2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f");
	assert_digest(res.message_hash,
	    "0xc52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e");
	assert_digest(res.digest,
	    "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");
	assert_int_equal(res.has_chain_id, 1);
	assert_int_equal(res.chain_id.w[0], 1);

	dom = json_array_get(res.messages, 0);
	msg = json_array_get(res.messages, 1);
	assert_string_equal(json_string_value(json_object_get(dom, "type")), "domain");
	assert_string_equal(json_string_value(json_object_get(msg, "name")), "Mail");
	assert_string_equal(json_string_value(json_object_get(msg, "type")), "primary type");
	/* chainId shown in decimal, the contract in EIP-55 form */
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(dom, "value"), 2), "value")), "1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(dom, "value"), 3), "value")),
	    "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC");
	from = json_array_get(json_object_get(msg, "value"), 0);
	assert_string_equal(json_string_value(json_object_get(from, "type")), "Person");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(from, "value"), 1), "value")),
	    "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826");
	eth_eip712_result_clear(&res);
	eth_eip712_result_clear(NULL);
}

/* Arrays are shown item by item (Clef shows only the last struct of an array). */
static void
test_array_tree(void **state)
{
	json_t *doc = json_deep_copy(mail), *items, *item;
	struct eth_eip712_result res;
	char err[ERR_WHY_MAX];

	(void)state;
	json_array_append_new(json_object_get(json_object_get(doc, "types"), "Mail"),
	    json_pack("{s:s,s:s}", "name", "amounts", "type", "uint8[2][]"));
	json_object_set_new(json_object_get(doc, "message"), "amounts",
	    json_pack("[[i,i],[i,i]]", 1, 2, 3, 4));
	assert_int_equal(eth_eip712_hash(doc, &res, 1, err), 0);
	items = json_object_get(json_array_get(json_object_get(json_array_get(
	    res.messages, 1), "value"), 3), "value");
	assert_int_equal(json_array_size(items), 2);
	item = json_array_get(items, 1);
	assert_string_equal(json_string_value(json_object_get(item, "name")), "[1]");
	assert_string_equal(json_string_value(json_object_get(item, "type")), "uint8[2]");
	item = json_array_get(json_object_get(item, "value"), 0);
	assert_string_equal(json_string_value(json_object_get(item, "type")), "uint8");
	assert_string_equal(json_string_value(json_object_get(item, "value")), "3");
	eth_eip712_result_clear(&res);
	json_decref(doc);
}

/* Output contracts: errmsg may be NULL, nothing is left behind on failure. */
static void
test_contracts(void **state)
{
	struct eth_eip712_result res;
	uint8_t d[32], zero[32] = { 0 };
	json_t *s = json_string("x"), *typed = (json_t *)1;
	struct eth_u256 one;

	(void)state;
	assert_int_equal(eth_eip712_hash(s, &res, 1, NULL), ERR_EIP712_INVALID);
	assert_memory_equal(res.digest, zero, 32);
	assert_int_equal(eth_eip712_digest(NULL, d, NULL), ERR_EIP712_INVALID);
	eth_u256_from_u64(&one, 1);
	assert_int_equal(eth_eip712_from_gnosis_safe_tx(s, &one, &typed, NULL, NULL),
	    ERR_EIP712_INVALID);
	assert_null(typed);
	json_decref(s);
}

/*
 * Every seed in Clef's fuzzing folder is a case of clef.json, and the
 * folder is there: a seed left out of the list, or a folder lost in a
 * copy, would otherwise never be run and never be missed.
 */
static void
test_fuzz_seeds_listed(void **state)
{
	const json_t *clef = *state;
	char dir[1024], file[1024];
	struct dirent *e;
	DIR *d;
	size_t i, seen = 0, listed = 0;
	const json_t *c;

	snprintf(dir, sizeof(dir), "%s/fuzzing", tvec_clef_dir());
	json_array_foreach(clef, i, c)
		if (strncmp(tvec_str(c, "file"), "fuzzing/", 8) == 0)
			listed++;
	d = opendir(dir);
	if (d == NULL)
		fail_msg("cannot open %s", dir);
	while ((e = readdir(d)) != NULL) {
		int found = 0;

		if (e->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "fuzzing/%s", e->d_name);
		json_array_foreach(clef, i, c)
			if (strcmp(tvec_str(c, "file"), file) == 0)
				found = 1;
		if (!found)
			print_error("%s/%s is not a case of eip712/clef.json\n", dir, e->d_name);
		assert_true(found);
		seen++;
	}
	closedir(d);
	assert_true(seen > 0);
	assert_int_equal(seen, listed);
}

int
main(void)
{
	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_ether_mail),
		cmocka_unit_test(test_array_tree),
		cmocka_unit_test(test_contracts),
	};
	json_t *clef = tvec_load("tests/vectors/eip712/clef.json");
	json_t *structure = tvec_load("tests/vectors/eip712/structure.json");
	json_t *apitypes = load_clef("apitypes/typed-data.json");
	int failed = 0;

	if (apitypes == NULL)
		print_error("Clef's vectors are missing from tests/vectors/clef-eip712\n");
	mail = json_object_get(structure, "mail");
	failed += tvec_run("eip712-clef-files", clef, test_clef_case);
	failed += tvec_run("eip712-apitypes", apitypes, test_apitypes_case);
	if (apitypes != NULL && json_array_size(apitypes) != 123) {
		print_error("apitypes/typed-data.json has %zu cases, not 123\n",
		    json_array_size(apitypes));
		failed++;
	}
	failed += tvec_run_file("eip712-values", "tests/vectors/eip712/values.json",
	    test_value_case);
	failed += tvec_run("eip712-structure", json_object_get(structure, "refused"),
	    test_structure_refused);
	failed += cmocka_run_group_tests_name("eip712-fixed", fixed, NULL, NULL);
	{
		const struct CMUnitTest seeds[] = {
			cmocka_unit_test_prestate(test_fuzz_seeds_listed, clef),
		};

		failed += cmocka_run_group_tests_name("eip712-fuzz-seeds", seeds, NULL, NULL);
	}
	json_decref(clef);
	json_decref(structure);
	json_decref(apitypes);
	return failed != 0;
}
