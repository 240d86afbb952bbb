/*
 * proto_int.h - what the pieces of the token protocol codec share (proto.c,
 * proto_encode.c, proto_decode.c, proto_io.c); nothing else includes it.
 * The functions below are grouped by the file that defines them; each one's
 * contract is the comment above its definition there.
 */
#ifndef P11_PROTO_INT_H
#define P11_PROTO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"
#include "p11/proto.h"

/* type(1) + request id(4) + field count(2): the smallest body. */
#define BODY_MIN		7
/* A reader holds at most the end of one frame and the whole of the next. */
#define READER_MAX		(2 * ((size_t)PROTO_PREFIX_LEN + LIMIT_PROTO_FRAME))
#define READ_CHUNK		65536

#define KEY_FIELDS		6
#define TOKEN_FIELDS		8

/* One message type: who sends it, its field count, the type that answers it. */
struct type_info {
	uint8_t type;
	uint8_t sender;		/* enum proto_side */
	uint8_t nfields;
	uint8_t reply;		/* for a request: the type that answers it */
	const char *name;
};

/* proto.c */
const struct type_info *proto_type_info(int type);
int proto_check_text(const uint8_t *p, size_t n, size_t min, size_t max);
int proto_check_uri(const uint8_t *p, size_t n, int required);
int proto_check_msg(const struct proto_msg *m);
/* proto_decode.c */
int proto_frame_body_len(const uint8_t prefix[PROTO_PREFIX_LEN], size_t *np);

#endif /* P11_PROTO_INT_H */
