# shellcheck shell=bash
# shellcheck disable=SC2034 # NETNS_MISSING and NETNS_ERROR are for the caller to read
# tests/lib/netns.sh - throwaway network namespaces with only loopback, for
# tests that must show a process reaches nothing but what the test gives it
# (an offline vault qube, an armory without its USB link).  Sourced after
# tests/lib/tap.sh, whose cleanup hook removes every namespace made here when
# the test exits, however it exits.
#
#   netns_can_create                0 when namespaces can be made here; else 1
#                                   with NETNS_MISSING saying what is missing
#                                   (iproute2, root or CAP_SYS_ADMIN, kernel
#                                   support), for tap_skip / tap_skip_all
#   netns_create VAR [TAG]          make a namespace named p11s-TAG-PID-RANDOM
#                                   with only "lo", up; store its name in VAR.
#                                   Not in $(...): the cleanup registered in a
#                                   subshell would be lost.  0, or 1 with
#                                   NETNS_ERROR set
#   netns_exec NS CMD...            run CMD inside NS (status of CMD)
#   netns_has_no_route_out NS       0 when NS has no IPv4 route, no IPv6 route
#                                   off "lo", and a TCP connect to 192.0.2.1:80
#                                   (TEST-NET-1) fails at once with "Network is
#                                   unreachable"; else 1 with NETNS_ERROR set.
#                                   The connect is tried only after the route
#                                   tables were found empty, so a broken
#                                   namespace never sends a packet anywhere.
#   netns_exists NS                 0 when NS is listed by `ip netns list`
#   netns_delete NS                 kill what still runs in NS (processes the
#                                   test started there), then remove NS; also
#                                   what the cleanup hook runs
#
# Names carry the test's PID and 32 random bits, so parallel runs and
# leftovers of a killed run never collide.

NETNS_MISSING=
NETNS_ERROR=

if ! declare -F tap_cleanup >/dev/null; then
	echo "tests/lib/netns.sh: source tests/lib/tap.sh first" >&2
	# shellcheck disable=SC2317 # reached only when executed, not sourced
	return 1 2>/dev/null || exit 1
fi

# Does this process hold CAP_SYS_ADMIN (bit 21 of the effective set)?
netns__has_sys_admin() {
	local caps
	caps=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status 2>/dev/null)
	[[ -n $caps ]] && (((16#$caps >> 21) & 1))
}

netns__random() {
	od -An -N4 -tx4 /dev/urandom 2>/dev/null | tr -d ' \n' || printf '%04x%04x' "$RANDOM" "$RANDOM"
}

netns_can_create() {
	local probe out
	NETNS_MISSING=
	if ! command -v ip >/dev/null 2>&1; then
		NETNS_MISSING="iproute2 (the ip command)"
		return 1
	fi
	if ((EUID != 0)) && ! netns__has_sys_admin; then
		NETNS_MISSING="root or CAP_SYS_ADMIN (ip netns add)"
		return 1
	fi
	probe=p11s-probe-$$-$(netns__random)
	if ! out=$(ip netns add "$probe" 2>&1); then
		NETNS_MISSING="network namespaces: ip netns add failed: ${out:-no message}"
		[[ $out == *"ermission denied"* || $out == *"not permitted"* ]] &&
			NETNS_MISSING="CAP_SYS_ADMIN in this container (ip netns add: $out)"
		return 1
	fi
	ip netns delete "$probe" >/dev/null 2>&1
	return 0
}

netns_create() {
	# Locals carry a prefix: printf -v must not hit one of them instead of
	# the caller's variable.
	local __netns_var=$1 __netns_tag=${2:-t} __netns_name __netns_out
	NETNS_ERROR=
	if [[ ! $__netns_var =~ ^[A-Za-z_][A-Za-z0-9_]*$ || $__netns_var == __netns_* ]]; then
		NETNS_ERROR="netns_create: bad variable name: $__netns_var"
		return 1
	fi
	if [[ ! $__netns_tag =~ ^[A-Za-z0-9_-]{1,16}$ ]]; then
		NETNS_ERROR="netns_create: bad tag: $__netns_tag"
		return 1
	fi
	__netns_name=p11s-$__netns_tag-$$-$(netns__random)
	if ! __netns_out=$(ip netns add "$__netns_name" 2>&1); then
		NETNS_ERROR="ip netns add $__netns_name: $__netns_out"
		return 1
	fi
	tap_cleanup netns_delete "$__netns_name"
	if ! __netns_out=$(ip -n "$__netns_name" link set lo up 2>&1); then
		NETNS_ERROR="ip -n $__netns_name link set lo up: $__netns_out"
		return 1
	fi
	printf -v "$__netns_var" '%s' "$__netns_name"
}

netns_exec() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

netns_exists() {
	ip netns list 2>/dev/null | awk '{ print $1 }' | grep -qxF -- "$1"
}

netns_has_no_route_out() {
	local ns=$1 v4 v6 out
	NETNS_ERROR=
	if ! netns_exists "$ns"; then
		NETNS_ERROR="no namespace $ns"
		return 1
	fi
	v4=$(ip -n "$ns" -4 route show table all 2>&1 | grep -v -E ' dev lo( |$)' || true)
	if [[ -n $v4 ]]; then
		NETNS_ERROR="IPv4 routes off lo in $ns: $v4"
		return 1
	fi
	v6=$(ip -n "$ns" -6 route show table all 2>&1 | grep -v -E ' dev lo( |$)' || true)
	if [[ -n $v6 ]]; then
		NETNS_ERROR="IPv6 routes off lo in $ns: $v6"
		return 1
	fi
	if [[ -n $(ip -n "$ns" -4 route show 2>&1) ]]; then
		NETNS_ERROR="$ns has a main-table IPv4 route: $(ip -n "$ns" -4 route show 2>&1)"
		return 1
	fi
	# Routes are empty: the connect cannot leave the namespace.
	if out=$(ip netns exec "$ns" timeout 5 bash -c 'exec 3<>/dev/tcp/192.0.2.1/80' 2>&1); then
		NETNS_ERROR="a TCP connect to 192.0.2.1:80 succeeded inside $ns"
		return 1
	fi
	if [[ $out != *"Network is unreachable"* ]]; then
		NETNS_ERROR="a TCP connect to 192.0.2.1:80 in $ns failed, but not with \"Network is unreachable\": $out"
		return 1
	fi
	return 0
}

netns_delete() {
	local ns=$1 pid
	netns_exists "$ns" || return 0
	for pid in $(ip netns pids "$ns" 2>/dev/null); do
		kill "$pid" 2>/dev/null
	done
	ip netns delete "$ns" 2>/dev/null
}
