#include <stdarg.h>
#include <stdio.h>

#include "core/err.h"

const char *
err_str(int code)
{
	switch (code) {
	case ERR_OK:
		return "success";
#define ERR_STR_CASE(name, value, msg) case name: return msg;
	ERR_TABLE(ERR_STR_CASE)
#undef ERR_STR_CASE
	}
	return "unknown error";
}

const char *
err_name(int code)
{
	switch (code) {
	case ERR_OK:
		return "ERR_OK";
#define ERR_NAME_CASE(name, value, msg) case name: return #name;
	ERR_TABLE(ERR_NAME_CASE)
#undef ERR_NAME_CASE
	}
	return "ERR_UNKNOWN";
}

int
err_why(char *why, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = err_whyv(why, code, fmt, ap);
	va_end(ap);
	return code;
}

int
err_whyv(char *why, int code, const char *fmt, va_list ap)
{
	if (why != NULL)
		vsnprintf(why, ERR_WHY_MAX, fmt, ap);
	return code;
}
