# shellcheck shell=bash
# tests/lib/tap.sh - TAP for the tests/*/*.test scripts, sourced by them.
#
# tests/run counts the lines this prints: "ok N - name", "not ok N - name",
# and "ok N - name # SKIP reason" for a skip.  A skip always says what is
# missing, so that a CI log tells how to get the test to run.
#
#   tap_plan N                      print the plan (call once, first)
#   tap_ok NAME | tap_not_ok NAME [DIAG...]
#   tap_check NAME CMD...           ok when CMD exits 0
#   tap_is NAME GOT WANT            ok when the strings are equal
#   tap_like NAME GOT REGEX         ok when GOT matches the bash regex
#   tap_skip NAME REASON            a skipped case
#   tap_skip_all REASON             plan 1, one skip, exit 0 (nothing can run)
#   tap_need CMD...                 0 when every command exists; else sets
#                                   TAP_MISSING to the missing ones
#   tap_wait_until SECONDS CMD...   run CMD every 50 ms until it succeeds or
#                                   SECONDS pass; 0 or 1.  CMD is run again
#                                   each time, so a value to recompute goes in
#                                   a function, not in a "$(...)" argument.
#                                   Every wait in a test goes through this or
#                                   has its own bound.
#   tap_cleanup CMD...              run CMD when the script exits (last first)
#   tap_done                        report a plan mismatch; exit 1 on failure
#
# Sourcing sets an EXIT trap that runs the cleanups; a test that needs its
# own trap calls tap_run_cleanups from it.

TAP_N=0
TAP_FAILED=0
TAP_PLANNED=
TAP_MISSING=
TAP_CLEANUPS=()

tap_plan() {
	TAP_PLANNED=$1
	echo "1..$1"
}

tap_ok() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $1"
}

tap_not_ok() {
	local name=$1 line
	shift
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $name"
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/#   /'
	done
}

tap_check() {
	local name=$1
	shift
	if "$@"; then
		tap_ok "$name"
	else
		tap_not_ok "$name" "command failed: $*"
	fi
}

tap_is() {
	if [[ $2 == "$3" ]]; then
		tap_ok "$1"
	else
		tap_not_ok "$1" "got:  $2" "want: $3"
	fi
}

tap_like() {
	if [[ $2 =~ $3 ]]; then
		tap_ok "$1"
	else
		tap_not_ok "$1" "got:  $2" "want: /$3/"
	fi
}

tap_skip() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $1 # SKIP $2"
}

tap_skip_all() {
	echo "1..1"
	echo "ok 1 - everything # SKIP $1"
	exit 0
}

tap_need() {
	local c
	TAP_MISSING=
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || TAP_MISSING+="${TAP_MISSING:+ }$c"
	done
	[[ -z $TAP_MISSING ]]
}

tap_wait_until() {
	local seconds=$1 tries
	shift
	tries=$((seconds * 20))
	while ((tries-- > 0)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

tap_cleanup() {
	TAP_CLEANUPS+=("$(printf '%q ' "$@")")
}

tap_run_cleanups() {
	local i
	for ((i = ${#TAP_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${TAP_CLEANUPS[i]}" 2>/dev/null || true
	done
	TAP_CLEANUPS=()
}

tap_done() {
	if [[ -n $TAP_PLANNED && $TAP_N -ne $TAP_PLANNED ]]; then
		while ((TAP_N < TAP_PLANNED)); do
			tap_not_ok "case never reached (planned $TAP_PLANNED)"
		done
		((TAP_N > TAP_PLANNED)) && echo "# ran $TAP_N cases, planned $TAP_PLANNED"
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
	[[ $TAP_FAILED -eq 0 ]]
}

trap tap_run_cleanups EXIT
