#include <poll.h>
#include <stddef.h>

#include "rpc/caller.h"

void
rpc_caller_set(char dst[RPC_CALLER_FIELD], const char *src)
{
	size_t i;

	for (i = 0; src != NULL && src[i] != '\0' && i < RPC_CALLER_FIELD - 1; i++)
		dst[i] = ((unsigned char)src[i] < 0x20 || src[i] == 0x7f) ? '?' : src[i];
	dst[i] = '\0';
}

int
rpc_caller_gone(const struct rpc_caller *c)
{
	struct pollfd p;
	short gone = POLLHUP | POLLERR | POLLNVAL;

	if (c == NULL || c->watch == RPC_WATCH_NONE)
		return 0;
	if (c->watch == RPC_WATCH_HANGUP_OR_EOF)
		gone |= POLLRDHUP;
	p.fd = c->conn_fd;
	p.events = POLLRDHUP;
	p.revents = 0;
	return poll(&p, 1, 0) > 0 && (p.revents & gone) != 0;
}
