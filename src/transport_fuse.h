/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * transport_fuse.h - expose an image as one regular file through FUSE.
 *
 * The "fuse" transport: the file can be read directly, or attached to a
 * loop device (losetup -r) and mounted.  It speaks the kernel's FUSE
 * protocol on /dev/fuse itself (no libfuse), so it works from a static
 * binary in an initramfs.  Mounting needs CAP_SYS_ADMIN.
 */
#ifndef ULOOP_TRANSPORT_FUSE_H
#define ULOOP_TRANSPORT_FUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ulo_fuse;

/* Serve [@off, @off + @len) of the image: 0 or -errno. */
typedef int (*ulo_fuse_read_fn)(void *ctx, void *buf, uint64_t off, size_t len);

/* Store [@off, @off + @len) written to the file; make them durable. */
typedef int (*ulo_fuse_write_fn)(void *ctx, const void *buf, uint64_t off,
				 size_t len);
typedef int (*ulo_fuse_sync_fn)(void *ctx);

/*
 * Mount a file of @size bytes over @path (a regular file; created if
 * missing), read-only unless @writable (then give the writer with
 * ulo_fuse_writable()).  Requests queue in the kernel until ulo_fuse_run().
 */
int ulo_fuse_mount(const char *path, uint64_t size, bool writable,
		   struct ulo_fuse **out);
/* The /dev/fuse descriptor (the 2007 API exposes it as ulo_dev_fd). */
int ulo_fuse_fd(const struct ulo_fuse *f);
/* Take writes (before ulo_fuse_run()): WRITE calls @wr, FSYNC @sync;
 * both get ulo_fuse_run()'s @ctx. */
void ulo_fuse_writable(struct ulo_fuse *f, ulo_fuse_write_fn wr,
		       ulo_fuse_sync_fn sync);
/* Start @nthreads threads answering requests with @rd. */
int ulo_fuse_run(struct ulo_fuse *f, unsigned nthreads, ulo_fuse_read_fn rd,
		 void *ctx);
/* Call @fn(@ctx) once if the file is unmounted from outside (umount):
 * the server threads stop, and the owner should wind down. */
void ulo_fuse_on_gone(struct ulo_fuse *f, void (*fn)(void *ctx), void *ctx);
/* Unmount (lazily, if still busy), stop the threads and free. */
void ulo_fuse_stop(struct ulo_fuse *f);

#endif
