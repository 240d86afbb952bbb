/*
 * Fuzz target: the token protocol codec (src/p11/proto).
 *
 * 1. The whole input is one frame, decoded as sent by the daemon and as sent
 *    by the helper.  Whatever decodes must re-encode to exactly the input
 *    (decoding is canonical), and decode again to the same bytes.
 * 2. The input after two control bytes is a stream: byte 0 picks the sender
 *    (bit 0: helper), byte 1 the size of the pieces fed to a reader (1..256).
 *    Each message taken out must re-encode to the bytes it came from.
 * A mismatch aborts, which libFuzzer and the replay driver report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "p11/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
reencode_equal(const struct proto_msg *m, const uint8_t *want, size_t n)
{
	struct eth_buf b;

	eth_buf_init(&b, 0);
	if (proto_encode(&b, m) != 0 || b.len != n || memcmp(b.p, want, n) != 0)
		abort();
	eth_buf_free(&b);
}

static void
one_frame(const uint8_t *data, size_t size, enum proto_side from)
{
	struct proto_msg *m = NULL, *again = NULL;
	struct eth_buf b;

	if (proto_decode(data, size, from, &m) != 0) {
		if (m != NULL)
			abort();
		return;
	}
	reencode_equal(m, data, size);
	/* And the message decodes only from its own side. */
	if (proto_decode(data, size, from == PROTO_FROM_DAEMON ? PROTO_FROM_HELPER :
	    PROTO_FROM_DAEMON, &again) == 0)
		abort();
	eth_buf_init(&b, 0);
	if (proto_encode(&b, m) != 0 || proto_decode(b.p, b.len, from, &again) != 0)
		abort();
	reencode_equal(again, data, size);
	proto_msg_free(again);
	eth_buf_free(&b);
	proto_msg_free(m);
}

static void
stream(const uint8_t *data, size_t size)
{
	enum proto_side from;
	struct proto_reader *rd;
	struct proto_msg *m;
	size_t piece, off = 0, taken = 0;
	int r = 0;

	if (size < 2)
		return;
	from = (data[0] & 1) ? PROTO_FROM_HELPER : PROTO_FROM_DAEMON;
	piece = (size_t)data[1] + 1;
	data += 2;
	size -= 2;
	if (proto_reader_new(from, &rd) != 0)
		return;
	while (off < size && r == 0) {
		size_t n = size - off < piece ? size - off : piece;
		if ((r = proto_reader_feed(rd, data + off, n)) != 0)
			break;
		off += n;
		while ((r = proto_reader_next(rd, &m)) == 0 && m != NULL) {
			/* The frame it came from starts where the last one ended. */
			struct eth_buf b;
			eth_buf_init(&b, 0);
			if (proto_encode(&b, m) != 0 || taken + b.len > off ||
			    memcmp(b.p, data + taken, b.len) != 0)
				abort();
			taken += b.len;
			eth_buf_free(&b);
			proto_msg_free(m);
		}
	}
	proto_reader_free(rd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one_frame(data, size, PROTO_FROM_DAEMON);
	one_frame(data, size, PROTO_FROM_HELPER);
	stream(data, size);
	return 0;
}
