/* Fuzz target: the qrexec service descriptor; what it accepts must be safe names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/qrexec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rpc_caller c;

	if (rpc_qrexec_parse_descriptor((const char *)data, size, &c) == 0) {
		if (strpbrk(c.id, "/ \n") != NULL || strpbrk(c.profile, "/. \n") != NULL ||
		    c.id[0] == '\0' || c.profile[0] == '\0')
			abort();
	}
	return 0;
}
