/*
 * h5image.h: building an HDF5 file in memory and replacing a file atomically with it,
 * shared by the checkpoint writer (checkpoint.c) and the metrics writer (metrics.c).
 *
 * Internal to src/io. HDF5 never touches the disk: the file lives in memory (core
 * driver, no backing store, v110 format bounds), a callback fills or edits it, and the
 * closed file's bytes are written to PATH with pf_write_file_atomic (PATH.tmp, fsync,
 * rename, folder fsync). Why, and how the bytes are obtained: h5image.c.
 */
#ifndef PREFOPT_IO_H5IMAGE_H
#define PREFOPT_IO_H5IMAGE_H

#include <hdf5.h>
#include <stddef.h>

/* Fills or edits the open in-memory file. Returns a pf status; messages need not name
 * the destination path (pf_h5_image_write prefixes it). Every HDF5 id it opens must be
 * closed before it returns. */
typedef int (*pf_h5_image_fill_fn)(hid_t file, const void *ctx);

/* Replaces path atomically with an HDF5 file built in memory: opens a copy of image
 * (size bytes, an existing HDF5 file) read-write, or when image is NULL creates an
 * empty file; calls fill(file, ctx); closes the file and writes its bytes to path.
 * expected_bytes (0 when unknown) sizes the in-memory growth step: 1/64 of it, at least
 * 64 KiB; the written file may carry that much zero padding past the HDF5 end of data,
 * which readers ignore. Returns PF_OK, or fill's status, PF_ERR_RUNTIME (HDF5 or I/O
 * failure) or PF_ERR_USAGE (path too long), with a message naming path; on failure path
 * is as it was and no path.tmp is left. Not reentrant: fill must not call it again. */
int pf_h5_image_write(const char *path, const void *image, size_t size, size_t expected_bytes,
                      pf_h5_image_fill_fn fill, const void *ctx);

#endif
