#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly C1 C3 C4
# A crash at each step of the cache write order (test build with
# failpoints: the process SIGKILLs itself there).  Each crash must leave a
# cache that opens, claims only blocks equal to the image, and completes
# on the next run.  The test also proves each failpoint was reached (the
# process died of SIGKILL), so a renamed step cannot pass silently.
. "$(dirname "$0")/functions.sh"

[ -x "$ULOOP_FP" ] || fail "missing $ULOOP_FP (make test-bins)"
size=$((6 * 1024 * 1024 + 100))
make_image "$T/img" $size
make_image "$T/other" $size

crash() {	# crash FAILPOINT CACHE-ARGS...: run hydrate until it dies there
	fp=$1
	shift
	rc=0
	# shellcheck disable=SC2086
	ULOOP_FAILPOINT=$fp $ULOOP_FP hydrate "$src" --cache "$@" $create --no-progress \
		--connections 2 >/dev/null 2>"$T/err" || rc=$?
	[ $rc -eq 137 ] || fail "$fp: exited $rc, not killed at the failpoint: $(cat "$T/err")"
}

verify() {	# verify CACHE-ARGS...: consistent now, complete after a rerun
	$ULOOP check "$@" --source "$src" >"$T/chk" 2>&1 ||
		fail "$fp: check after the crash: $(cat "$T/chk")"
	$ULOOP hydrate "$src" --cache "$@" --no-progress >/dev/null
	$ULOOP export "$@" "$T/out"
	cmp -s "$T/out" "$src" || fail "$fp: export after recovery differs"
}

n=0
create=""
for layout in native 2007 compact uml-cow; do
	for fp in data-written:1 data-written:5 commit-start:1 data-synced:1 \
		bits-written:1 bits-synced:1 header-torn:1 header-torn:2 \
		header-written:2 header-synced:2 format-zeroed:1; do
		# (no header to rewrite: 2007 has none, UML's names the image only)
		case $layout in 2007|uml-cow) case $fp in header-*) continue ;; esac ;; esac
		rm -f "$T/c" "$T/b"
		# 4K blocks: several runs, so "the 5th write" exists.
		case $layout in
		native) set -- "$T/c"; create="--block-size 4K" ;;
		compact) set -- "$T/c"; create="--format compact --block-size 4K" ;;
		uml-cow) set -- "$T/c"; create="--format uml-cow --block-size 4K" ;;
		*) set -- "$T/c" --bitmap "$T/b"; create="" ;;
		esac
		src=$T/img
		crash "$fp" "$@"
		verify "$@"
		n=$((n + 1))
		echo "$layout $fp: recovered"
	done
	# Dropping an image: crash after the old identity is forgotten and
	# after the bitmap is cleared; the new image must come out whole.
	for fp in unbind-written:1 format-zeroed:1; do
		rm -f "$T/c" "$T/b"
		if [ $layout = 2007 ]; then set -- "$T/c" --bitmap "$T/b"; else set -- "$T/c"; fi
		create=""
		src=$T/img
		# (a compact file is known by its magic from then on)
		fmtopt=""; [ $layout = compact ] || [ $layout = uml-cow ] && fmtopt="--format $layout"
		# shellcheck disable=SC2086
		$ULOOP hydrate "$src" --cache "$@" $fmtopt --no-progress >/dev/null
		cp "$T/other" "$T/img2"
		src=$T/img2
		crash "$fp" "$@"
		verify "$@"
		n=$((n + 1))
		echo "$layout drop + $fp: recovered"
	done
done

# Dropping a big image for a small one (the 2007 files shrink): a crash at
# each step still leaves a pair that opens and completes.
make_image "$T/huge" $((40 * 1024 * 1024))
for layout in native 2007 compact uml-cow; do
	for fp in unbind-written:1 format-zeroed:1; do
		rm -f "$T/c" "$T/b"
		if [ $layout = 2007 ]; then set -- "$T/c" --bitmap "$T/b"; else set -- "$T/c"; fi
		create=""
		src=$T/huge
		fmtopt=""; [ $layout = compact ] || [ $layout = uml-cow ] && fmtopt="--format $layout"
		# shellcheck disable=SC2086
		$ULOOP hydrate "$src" --cache "$@" $fmtopt --no-progress >/dev/null
		src=$T/img
		crash "$fp" "$@"
		verify "$@"
		n=$((n + 1))
		echo "$layout shrink + $fp: recovered"
	done
done

# A torn header write leaves the previous generation in charge.
rm -f "$T/c"
src=$T/img
$ULOOP hydrate "$src" --cache "$T/c" --no-progress >/dev/null
gen=$($ULOOP info "$T/c" --json | json_get generation)
crash header-torn:1 "$T/c"
gen2=$($ULOOP info "$T/c" --json | json_get generation)
[ "$gen2" -eq "$gen" ] || fail "after a torn write generation is $gen2, expected $gen"
verify "$T/c"
echo "$((n + 1)) crash points recovered"
