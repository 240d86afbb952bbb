#include <errno.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/parse.h"

int
parse_unsigned(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return ERR_DECIMAL_INVALID;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end != '\0')
		return ERR_DECIMAL_INVALID;
	if (errno != 0 || v > max)
		return ERR_NUMBER_RANGE;
	*out = v;
	return 0;
}
