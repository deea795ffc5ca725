/*
 * h5image.c: in-memory HDF5 files written out atomically (see h5image.h).
 *
 * Invariant: PATH is only ever replaced by a complete, closed, fsync'ed file, and HDF5
 * never opens PATH or PATH.tmp. The file is built in memory (core driver, no backing
 * store) and only its final image is written, with plain stdio calls, to PATH.tmp,
 * which is then synced and renamed onto PATH (pf_write_file_atomic). This works around
 * two HDF5 1.10 (1.10.8 here) problems:
 *  - a failed H5Fclose on a disk file (disk full, quota, file-size limit) leaves a
 *    half-destroyed file in the library's ID table and the process crashes at exit;
 *    here closing the in-memory file cannot hit the disk, and every I/O error is an
 *    ordinary PF_ERR_RUNTIME from the POSIX write;
 *  - H5Fget_file_image clears the superblock's status flags in the image it returns
 *    without recomputing the checksum of v2/v3 superblocks (which the v110 bounds
 *    produce), so that image fails to open again (HDFGroup/hdf5#1915, fixed only in
 *    2025). Instead the driver allocates the file's buffer through the file-image
 *    callbacks below, and at file close hands the final buffer to image_free, which
 *    keeps it: the closed, consistent file, with no copy.
 * Since the writer never opens PATH with HDF5, it never takes HDF5's file lock on it
 * either: a reader holding PATH open (h5py, h5dump) cannot make a write fail, and keeps
 * seeing the version it opened. Every failure leaves PATH as it was and removes
 * PATH.tmp. Cost: the writing process holds the whole file in memory while it writes.
 */
#include "io/h5image.h"

#include <stdlib.h>
#include <string.h>

#include "io/h5util.h"
#include "prefopt/error.h"
#include "prefopt/fsutil.h"

enum { MIN_INCREMENT = 65536 }; /* smallest core-driver growth step (bytes) */

/* The in-memory file's name: nothing is read from or written to it, but HDF5 probes
 * an existing file of that name, so it is a path that cannot exist (and never one we
 * write, like PATH.tmp). One in-memory file at a time: the name is fixed. */
static const char MEMORY_FILE_NAME[] = "/dev/null/prefopt-h5-image";

/* The in-memory file's buffer, allocated through the callbacks below; at file close
 * the driver releases it to image_free, which keeps it (the closed file's bytes). */
typedef struct {
    void *buf;   /* the file's current buffer */
    size_t size; /* its size */
    void *final; /* the buffer released at file close (owned by us afterwards) */
    size_t final_size;
} image_sink;

/* Core-driver allocation callback; tracks the file's own buffer (allocated at open
 * when starting from an image), not the property-list copies of that image. A new
 * file's buffer is first allocated by image_realloc. */
static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata)
{
    image_sink *sink = udata;
    void *p = malloc(size);
    if (p && op == H5FD_FILE_IMAGE_OP_FILE_OPEN) {
        sink->buf = p;
        sink->size = size;
    }
    return p;
}

/* Core-driver copy callback. */
static void *image_memcpy(void *dst, const void *src, size_t size, H5FD_file_image_op_t op,
                          void *udata)
{
    (void)op;
    (void)udata;
    return memcpy(dst, src, size);
}

/* Core-driver resize callback (only the file's buffer is ever resized; the file grows
 * as it is written). */
static void *image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata)
{
    image_sink *sink = udata;
    (void)op;
    void *grown = realloc(ptr, size);
    if (grown) {
        sink->buf = grown;
        sink->size = size;
    }
    return grown;
}

/* Core-driver release callback: keeps the file's buffer released at the last file
 * close. (H5Fcreate may first open and close an existing disk file of the same name as
 * a probe, through these callbacks too; the real file is always closed last.) */
static herr_t image_free(void *ptr, H5FD_file_image_op_t op, void *udata)
{
    image_sink *sink = udata;
    if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE && ptr && ptr == sink->buf) {
        free(sink->final);
        sink->final = ptr;
        sink->final_size = sink->size;
        sink->buf = NULL;
        sink->size = 0;
    } else {
        free(ptr);
    }
    return 0;
}

/* The sink outlives every property-list copy: user data is shared, not copied. */
static void *image_udata_copy(void *udata) { return udata; }

/* Nothing to release: the sink lives on pf_h5_image_write's stack. */
static herr_t image_udata_free(void *udata)
{
    (void)udata;
    return 0;
}

/* A file-access list for an in-memory v110 file managed by sink, starting from the
 * given image (bytes, size) or empty (bytes NULL), growing in steps of increment
 * bytes; strong close degree, so closing the file closes whatever is still open in it.
 * Negative on failure. */
static hid_t image_fapl(image_sink *sink, const void *bytes, size_t size, size_t increment)
{
    H5FD_file_image_callbacks_t callbacks = {image_malloc, image_memcpy,     image_realloc,
                                             image_free,   image_udata_copy, image_udata_free,
                                             sink};
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return -1;
    if (H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
        H5Pset_fapl_core(fapl, increment, 0) < 0 ||
        H5Pset_file_image_callbacks(fapl, &callbacks) < 0 ||
        (bytes && H5Pset_file_image(fapl, (void *)bytes, size) < 0)) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

/* Opens the image (bytes, size) read-write in memory, or creates an empty in-memory
 * file when bytes is NULL. */
static int open_image(const void *bytes, size_t size, size_t increment, image_sink *sink,
                      hid_t *file)
{
    char text[512];
    hid_t fapl = image_fapl(sink, bytes, size, increment);
    if (fapl < 0)
        *file = -1;
    else if (bytes)
        *file = H5Fopen(MEMORY_FILE_NAME, H5F_ACC_RDWR, fapl);
    else
        *file = H5Fcreate(MEMORY_FILE_NAME, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    int rc = PF_OK; /* read the HDF5 error stack before the next call clears it */
    if (*file < 0)
        rc = pf_fail(PF_ERR_RUNTIME,
                     bytes ? "not an HDF5 file (%s)" : "cannot create the in-memory file: %s",
                     pf_h5_error_text(text, sizeof text));
    if (fapl >= 0)
        H5Pclose(fapl);
    return rc;
}

/* Closes the in-memory file (when open); on success its bytes are in sink->final
 * (sink->final_size, possibly zero-padded past the end of the HDF5 address space). */
static int close_image(hid_t file, image_sink *sink, int rc)
{
    char text[512];
    if (file >= 0 && H5Fclose(file) < 0 && rc == PF_OK)
        rc = pf_fail(PF_ERR_RUNTIME, "cannot close the in-memory file: %s",
                     pf_h5_error_text(text, sizeof text));
    if (rc == PF_OK && !sink->final)
        rc = pf_fail(PF_ERR_RUNTIME, "the HDF5 core driver returned no file image");
    return rc;
}

int pf_h5_image_write(const char *path, const void *image, size_t size, size_t expected_bytes,
                      pf_h5_image_fill_fn fill, const void *ctx)
{
    image_sink sink = {0};
    hid_t file = -1;
    size_t increment = expected_bytes / 64 > MIN_INCREMENT ? expected_bytes / 64 : MIN_INCREMENT;
    pf_h5_quiet();
    int rc = open_image(image, size, increment, &sink, &file);
    if (rc == PF_OK)
        rc = fill(file, ctx);
    rc = close_image(file, &sink, rc);
    if (rc == PF_OK)
        rc = pf_write_file_atomic(path, sink.final, sink.final_size); /* names path */
    else
        pf_fail_prefix(rc, "%s", path);
    free(sink.final);
    return rc;
}
