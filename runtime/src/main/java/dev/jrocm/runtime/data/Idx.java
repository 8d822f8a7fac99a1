package dev.jrocm.runtime.data;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Reads an IDX file of unsigned bytes (the MNIST family's format: a big-endian magic number
 * {@code 0x0000 08 nd}, nd big-endian int32 dimensions, then the data), gzip-compressed or not
 * (told by the gzip magic bytes, not the name). The whole payload is read in one bulk call after
 * the header has been checked, so a header cannot make it allocate more than it promises.
 */
final class Idx {
    static final int UNSIGNED_BYTE = 0x08;
    /** The largest payload read (MNIST-sized files are 47 MB). */
    static final long MAX_PAYLOAD = Integer.MAX_VALUE - 64;

    /** The dimensions and the payload. */
    record Contents(int[] dims, byte[] data, boolean gzipped) {}

    private Idx() {}

    static Contents read(Path file, int dimensions, String what) throws IOException {
        boolean gzipped;
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            raw.mark(2);
            gzipped = raw.read() == 0x1f && raw.read() == 0x8b;
            raw.reset();
            InputStream in = gzipped ? new GZIPInputStream(raw, 1 << 16) : raw;
            return read(file, in, dimensions, what, gzipped);
        } catch (EOFException e) {
            throw new DatasetFormatException(file, "gzip data ends early (truncated file?)", e);
        } catch (ZipException e) {
            throw new DatasetFormatException(file, "is not valid gzip data: " + e.getMessage(), e);
        }
    }

    private static Contents read(Path file, InputStream in, int dimensions, String what, boolean gzipped) throws IOException {
        String offsets = gzipped ? " of the uncompressed data" : "";
        byte[] magic = in.readNBytes(4);
        int expected = UNSIGNED_BYTE << 8 | dimensions;
        if (magic.length < 4) {
            throw new DatasetFormatException(file, "ends after " + magic.length + " bytes, inside the 4-byte IDX magic number");
        }
        int found = bigEndian(magic, 0);
        if (found != expected) {
            throw new DatasetFormatException(file, String.format("wrong magic number 0x%08x at byte 0%s, expected 0x%08x"
                    + " (IDX unsigned bytes with %d dimensions: %s)", found, offsets, expected, dimensions, what));
        }
        byte[] header = in.readNBytes(4 * dimensions);
        if (header.length < 4 * dimensions) {
            throw new DatasetFormatException(file, "ends after " + (4 + header.length) + " bytes" + offsets
                    + ", inside the " + (4 + 4 * dimensions) + "-byte IDX header");
        }
        int[] dims = new int[dimensions];
        long payload = 1;
        for (int i = 0; i < dimensions; i++) {
            dims[i] = bigEndian(header, 4 * i);
            if (dims[i] < 0) {
                throw new DatasetFormatException(file, "dimension " + i + " is " + dims[i] + " (byte " + (4 + 4 * i) + offsets + ")");
            }
            payload *= dims[i]; // ≤ (2³¹)³ cannot overflow a long for three dimensions
        }
        if (payload > MAX_PAYLOAD) {
            throw new DatasetFormatException(file, "header promises " + payload + " bytes of data, more than jrocm reads ("
                    + MAX_PAYLOAD + ")");
        }
        int headerBytes = 4 + 4 * dimensions;
        byte[] data = in.readNBytes((int) payload);
        if (data.length < payload) {
            throw new DatasetFormatException(file, "is truncated: its header promises " + shape(dims) + " = " + payload
                    + " bytes after the " + headerBytes + "-byte header, but only " + data.length + " follow" + offsets);
        }
        if (in.read() >= 0) {
            throw new DatasetFormatException(file, "has more bytes than the " + shape(dims) + " = " + payload
                    + " its header promises (byte " + (headerBytes + payload) + offsets + " onwards): wrong record size?");
        }
        return new Contents(dims, data, gzipped);
    }

    static String shape(int[] dims) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < dims.length; i++) {
            s.append(i == 0 ? "" : "×").append(dims[i]);
        }
        return s.toString();
    }

    private static int bigEndian(byte[] b, int at) {
        return (b[at] & 0xff) << 24 | (b[at + 1] & 0xff) << 16 | (b[at + 2] & 0xff) << 8 | (b[at + 3] & 0xff);
    }
}
