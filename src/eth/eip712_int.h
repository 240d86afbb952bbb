/*
 * eip712_int.h - what the parts of src/eth/eip712*.c share: the parsed
 * type table, the walk's context and its messages; not for callers outside
 * them (eip712.h is the interface).
 */
#ifndef ETH_EIP712_INT_H
#define ETH_EIP712_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/limits.h"
#include "eth/eip712.h"

enum base {
	B_ADDRESS,
	B_BOOL,
	B_STRING,
	B_BYTES,
	B_BYTESN,	/* size: N bytes */
	B_INT,		/* size: N bits */
	B_UINT,		/* size: N bits */
	B_STRUCT,	/* size: index into the type table */
};

struct ftype {
	enum base base;
	unsigned size;
	unsigned ndims;
	uint32_t dims[LIMIT_EIP712_ARRAY_DIMS];	/* dims[ndims-1] is outermost; 0: dynamic */
};

struct field {
	const char *name;	/* borrowed from the input */
	const char *type;	/* as declared, borrowed */
	struct ftype t;
};

struct stype {
	const char *name;	/* borrowed */
	struct field *fields;
	size_t nfields;
	int hashed;
	uint8_t typehash[32];
};

struct ctx {
	struct stype *types;
	size_t ntypes;
	size_t nvalues;		/* values hashed so far */
	size_t shown_bytes;	/* text of the values shown so far */
	char *why;
	char path[256];		/* where the walk is, for messages */
	size_t pathlen;
};

#define DOMAIN_TYPE "EIP712Domain"

/* A context for one call, whose detail goes to why (may be NULL); empties why. */
void eip712_ctx_init(struct ctx *c, char *why);

/*
 * Returns code, and leaves the first, innermost detail of a failure in
 * c->why (room ERR_WHY_MAX, err_why()), prefixed with the path; later calls
 * keep it.  Printable ASCII only.
 */
int eip712_fail(struct ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Push ".name" or "[i]" on the path; returns the length to pop back to. */
size_t eip712_path_push(struct ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void eip712_path_pop(struct ctx *c, size_t old);

/* eip712_types.c: the type table from "types", a type's index, its typeHash. */
int eip712_parse_types(struct ctx *c, const json_t *untrusted_types);
int eip712_find_type(const struct ctx *c, const char *name, size_t len);
int eip712_type_hash(struct ctx *c, int idx, uint8_t out[32]);

/*
 * eip712_encode.c: hashStruct of obj as type idx (and, when shownp is not
 * NULL, the tree shown for it); the domain's values as EIP712Domain declares
 * them.
 */
int eip712_hash_struct(struct ctx *c, int idx, const json_t *obj, unsigned depth,
    uint8_t out[32], json_t **shownp);
int eip712_domain_values(struct ctx *c, const json_t *untrusted_domain, int didx,
    json_t **valuesp, struct eth_eip712_result *res);

#endif /* ETH_EIP712_INT_H */
