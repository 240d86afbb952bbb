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
