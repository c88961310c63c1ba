# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# exhaust-functions.sh - the heavy read load of the exhaustion tests
# (test-exhaust-fds, test-exhaust-memcg); source after http-functions.sh.
#
#   fio_image FILE BYTES        an image written by fio with a crc32c header
#                               in every 4 KiB block (its offset and a
#                               checksum of random bytes), so fio can
#                               verify any read of it against the image
#   fio_load NAME DEV BYTES ARGS...
#                               fio reads DEV (O_DIRECT: every read reaches
#                               the daemon) and verifies each 4 KiB; ARGS
#                               set the shape (jobs, depth, engine); fails
#                               the test on any error or mismatch;
#                               $T/fio-NAME.out is its report
#   sampler_start PID PORT DEV  every 0.2 s until sampler_stop, a line to
#                               $T/samples: ESTABLISHED connections to
#                               127.0.0.1:PORT, PID's open descriptors, of
#                               them sockets, and the FUSE requests of DEV
#                               waiting on the daemon ("-" if unknown)
#   sampler_stop                stop it
#   column_max N                the largest value of column N of $T/samples
#   fd_kinds PID                PID's descriptors that are not sockets, one
#                               a line, sorted (what a leak would add to)
requires fio ss

fio_image() {
	fio --name=image --filename="$1" --size="$2" --rw=write --bs=4k \
		--ioengine=psync --verify=crc32c --do_verify=0 \
		--randrepeat=0 --verify_state_save=0 >"$T/fio-image.out" 2>&1 ||
		fail "fio could not write the image: $(tail -n 3 "$T/fio-image.out")"
	[ "$(fsize "$1")" -eq "$2" ] || fail "fio wrote $(fsize "$1") bytes, not $2"
}

fio_load() {
	_n=$1 _dev=$2 _size=$3
	shift 3
	# Mixed sizes: 4 KiB reads (one block), 64 KiB and 1 MiB ones (runs
	# of blocks, the FUSE transport's largest read); verify_interval
	# checks every 4 KiB of a larger read against its own header.
	_rc=0
	fio --name="$_n" --filename="$_dev" --size="$_size" --readonly \
		--direct=1 --rw=randread --bssplit=4k/60:64k/30:1m/10 \
		--verify=crc32c --verify_interval=4k --verify_fatal=1 \
		--verify_state_save=0 \
		--group_reporting "$@" >"$T/fio-$_n.out" 2>&1 || _rc=$?
	if [ $_rc -ne 0 ] || grep -q "verify failed\|bad magic\|bad header" "$T/fio-$_n.out" ||
		! grep -q "err= 0" "$T/fio-$_n.out"; then
		grep -m 5 "verify\|err=\|error" "$T/fio-$_n.out" >&2 || :
		fail "fio $_n (exit $_rc): a read failed or returned wrong data"
	fi
	echo "fio $_n ($*): $(sed -n 's/^ *READ: \(bw=[^ ]*\).*\(io=[^ ]*\).*\(run=[^ ]*\).*/\1 \2 \3/p' "$T/fio-$_n.out"), no error, every 4 KiB verified"
}

sampler_start() {
	# The kernel's count of the FUSE connection's requests not yet
	# answered; fusectl is mounted for it if it is not (until exit).
	_waitf=/sys/fs/fuse/connections/$(stat -c %d "$3")/waiting
	if [ ! -e "$_waitf" ] && [ -d /sys/fs/fuse/connections ] &&
		! grep -q ' /sys/fs/fuse/connections ' /proc/self/mounts &&
		mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null; then
		on_exit "umount /sys/fs/fuse/connections"
	fi
	: >"$T/samples"
	touch "$T/sampling"
	(
		while [ -e "$T/sampling" ] && [ -d "/proc/$1" ]; do
			_c=$(ss -Htn state established "( dport = :$2 )" | wc -l)
			_f=$(find "/proc/$1/fd" -mindepth 1 2>/dev/null | wc -l)
			_s=$(find "/proc/$1/fd" -mindepth 1 -lname 'socket:*' 2>/dev/null | wc -l)
			_q=$(cat "$_waitf" 2>/dev/null || echo -)
			echo "$_c $_f $_s $_q" >>"$T/samples"
			sleep 0.2
		done
	) &
	_sampler=$!
	on_exit "rm -f $T/sampling; kill $_sampler 2>/dev/null"
}

sampler_stop() {
	rm -f "$T/sampling"
	wait "$_sampler" || :
	[ -s "$T/samples" ] || fail "the sampler took no sample"
}

column_max() {
	awk -v c="$1" '$c != "-" && $c + 0 > m { m = $c + 0 } END { print m + 0 }' "$T/samples"
}

fd_kinds() {
	find "/proc/$1/fd" -mindepth 1 -printf '%l\n' | grep -v '^socket:' | sort
}
