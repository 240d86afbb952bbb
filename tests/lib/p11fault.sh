# shellcheck shell=bash
# tests/lib/p11fault.sh - drive the fault-injecting PKCS#11 module
# (tests/fault/README.md) from a test.  Sourced after tests/lib/softhsm.sh
# and softhsm_setup, whose directory it uses.
#
#   p11fault_need                0 when the module is built; else
#                                P11FAULT_MISSING says what to build
#   p11fault_setup               exports P11FAULT_SO (the module to load),
#                                P11FAULT_MODULE (what it wraps: SoftHSM2),
#                                P11FAULT_CTL, P11FAULT_COUNTS, P11FAULT_LOG
#                                (files in the SoftHSM2 test directory) and
#                                writes an empty control file (no faults)
#   p11fault_set LINE...         replace the control file, atomically (a
#                                process using the module picks it up on its
#                                next call); no argument: no faults
#   p11fault_count FUNCTION      calls of FUNCTION so far, from the counts file
#   p11fault_trace               the trace log (one line per call: name,
#                                return code, "injected")
#   p11fault_foreign CMD...      run a program we did not build (pkcs11-tool)
#                                with the module; under ASan it needs the
#                                sanitizer runtime preloaded
#   p11fault_asan_runtime        that runtime's path, empty without ASan
#
# The module's counts and trace are per process; P11FAULT_COUNTS and
# P11FAULT_LOG may hold %p for the pid when several processes load it.

BUILD=${BUILD:-build}
P11FAULT_MISSING=

p11fault_need() {
	P11FAULT_MISSING=
	[[ -f $BUILD/tests/fault/libp11fault.so ]] ||
		P11FAULT_MISSING="$BUILD/tests/fault/libp11fault.so (make fixtures)"
	[[ -x $BUILD/tests/fault/p11drive ]] ||
		P11FAULT_MISSING+="${P11FAULT_MISSING:+ }$BUILD/tests/fault/p11drive (make fixtures)"
	[[ -z $P11FAULT_MISSING ]]
}

p11fault_setup() {
	local dir=${P11_SOFTHSM_DIR:?softhsm_setup first}
	P11FAULT_SO=$(cd "$BUILD/tests/fault" && pwd)/libp11fault.so
	export P11FAULT_SO
	export P11FAULT_MODULE=${P11_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
	export P11FAULT_CTL=$dir/fault.ctl
	export P11FAULT_COUNTS=$dir/fault.counts
	export P11FAULT_LOG=$dir/fault.log
	: >"$P11FAULT_CTL"
}

p11fault_set() {
	local tmp=$P11FAULT_CTL.tmp.$$
	if (($# == 0)); then
		: >"$tmp"
	else
		printf '%s\n' "$@" >"$tmp"
	fi
	mv -f -- "$tmp" "$P11FAULT_CTL"
}

p11fault_count() {
	local n
	n=$(awk -v fn="$1" '$1 == fn { print $2 }' "$P11FAULT_COUNTS" 2>/dev/null)
	echo "${n:-0}"
}

p11fault_trace() {
	cat -- "$P11FAULT_LOG" 2>/dev/null
}

# The ASan runtime the module was linked with, if it was (make asan).
p11fault_asan_runtime() {
	ldd "$P11FAULT_SO" 2>/dev/null | awk '/libasan/ { print $3; exit }'
}

# A module built with -fsanitize=address cannot be dlopen()ed by a program
# that was not, unless the ASan runtime is loaded first.
p11fault_foreign() {
	local asan
	asan=$(p11fault_asan_runtime)
	if [[ -n $asan ]]; then
		LD_PRELOAD=$asan${LD_PRELOAD:+:$LD_PRELOAD} \
			ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$@"
	else
		"$@"
	fi
}
