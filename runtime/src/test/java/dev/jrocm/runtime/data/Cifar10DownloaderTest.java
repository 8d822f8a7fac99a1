package dev.jrocm.runtime.data;

import dev.jrocm.runtime.device.Backend;
import dev.jrocm.runtime.device.cpu.CpuBackend;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The downloader against a local HTTP server serving small archives built here. (A minimal server
 * on a loopback socket: the JDK's {@code com.sun.net.httpserver} lives in module jdk.httpserver,
 * which jrocm's module does not read, and a test-only {@code requires} does not belong in it.)
 */
class Cifar10DownloaderTest {
    static Backend backend;
    @TempDir
    Path root;
    LoopbackHttpServer server;
    final Map<String, byte[]> served = new LinkedHashMap<>();
    final AtomicInteger requests = new AtomicInteger();
    final ByteArrayOutputStream log = new ByteArrayOutputStream();

    @BeforeAll
    static void open() { backend = new CpuBackend(); }

    @AfterAll
    static void close() { backend.close(); }

    @BeforeEach
    void serve() throws IOException {
        server = new LoopbackHttpServer(path -> {
            requests.incrementAndGet();
            return served.get(path);
        });
    }

    @AfterEach
    void stop() throws IOException { server.close(); }

    URI url(String path) {
        return URI.create("http://127.0.0.1:" + server.port() + path);
    }

    Cifar10Downloader downloader(String path, String md5) {
        return new Cifar10Downloader(url(path), md5, new PrintStream(log, true, StandardCharsets.UTF_8), false);
    }

    /** A .tar.gz of the given entries (name → contents; a name ending in / is a directory). */
    static byte[] tarGz(Map<String, byte[]> entries) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(new GZIPOutputStream(bytes))) {
            for (var e : entries.entrySet()) {
                TarArchiveEntry entry = new TarArchiveEntry(e.getKey());
                if (!e.getKey().endsWith("/")) {
                    entry.setSize(e.getValue().length);
                }
                tar.putArchiveEntry(entry);
                tar.write(e.getValue());
                tar.closeArchiveEntry();
            }
        }
        return bytes.toByteArray();
    }

    /** The layout of the official archive, with 2 records per batch. */
    static Map<String, byte[]> cifarEntries(Random random) {
        Map<String, byte[]> entries = new LinkedHashMap<>();
        String dir = Cifar10.DIRECTORY + "/";
        entries.put(dir, new byte[0]);
        entries.put(dir + Cifar10.META_FILE, (String.join("\n", TestData.CIFAR_CLASSES) + "\n").getBytes(StandardCharsets.UTF_8));
        for (String name : Cifar10.TRAIN_FILES) {
            entries.put(dir + name, TestData.cifarBatch(random, 2, 0));
        }
        entries.put(dir + Cifar10.TEST_FILES.getFirst(), TestData.cifarBatch(random, 2, 3));
        entries.put(dir + "readme.html", "<p>hi</p>".getBytes(StandardCharsets.UTF_8));
        return entries;
    }

    static String md5(byte[] data) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(data));
    }

    List<Path> rootContents() throws IOException {
        try (var files = Files.list(root)) {
            return files.toList();
        }
    }

    @Test
    void aVerifiedArchiveIsUnpackedIntoPlaceAndLoads() throws Exception {
        byte[] archive = tarGz(cifarEntries(new Random(2)));
        served.put("/cifar-10-binary.tar.gz", archive);
        Path dir = downloader("/cifar-10-binary.tar.gz", md5(archive)).download(root);
        assertEquals(root.resolve(Cifar10.DIRECTORY), dir);
        assertEquals(List.of(dir), rootContents()); // no temporary file or directory left
        try (Cifar10 train = Cifar10.loadFrom(backend, dir, Split.TRAIN)) {
            assertEquals(10, train.size());
        }
        String printed = log.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("cifar-10-binary.tar.gz  [####################]  100%"), printed);
        assertTrue(printed.endsWith("CIFAR-10 is in " + dir + "\n"), printed);
        // A second call finds it there and does not download again.
        downloader("/cifar-10-binary.tar.gz", md5(archive)).download(root);
        assertEquals(1, requests.get());
    }

    @Test
    void aWrongChecksumLeavesNoDatasetBehind() throws Exception {
        byte[] archive = tarGz(cifarEntries(new Random(2)));
        served.put("/c.tar.gz", archive);
        String wrong = "0123456789abcdef0123456789abcdef";
        DatasetFormatException e = assertThrows(DatasetFormatException.class, () -> downloader("/c.tar.gz", wrong).download(root));
        assertEquals("the download from " + url("/c.tar.gz") + " has MD5 " + md5(archive) + ", expected " + wrong
                + ": it is damaged or not the expected file; nothing was kept", e.getMessage());
        assertEquals(List.of(), rootContents());
    }

    @Test
    void anHttpErrorLeavesNothingBehind() {
        IOException e = assertThrows(IOException.class,
                () -> downloader("/missing.tar.gz", Cifar10Downloader.OFFICIAL_MD5).download(root));
        assertEquals("cannot download " + url("/missing.tar.gz") + ": the server answered HTTP 404", e.getMessage());
        assertTrue(Files.notExists(root.resolve(Cifar10.DIRECTORY)));
    }

    @Test
    void anUnreachableServerSaysSo() throws IOException {
        server.close();
        IOException e = assertThrows(IOException.class, () -> downloader("/c.tar.gz", Cifar10Downloader.OFFICIAL_MD5).download(root));
        assertTrue(e.getMessage().startsWith("cannot download " + url("/c.tar.gz") + ": java.net.ConnectException"), e.getMessage());
        assertEquals(List.of(), rootContents());
    }

    @Test
    void anArchiveMissingABatchIsRejectedWhole() throws Exception {
        Map<String, byte[]> entries = cifarEntries(new Random(2));
        entries.remove(Cifar10.DIRECTORY + "/data_batch_5.bin");
        byte[] archive = tarGz(entries);
        served.put("/c.tar.gz", archive);
        DatasetFormatException e = assertThrows(DatasetFormatException.class, () -> downloader("/c.tar.gz", md5(archive)).download(root));
        assertEquals("the archive from " + url("/c.tar.gz") + " lacks cifar-10-batches-bin/data_batch_5.bin; nothing was kept",
                e.getMessage());
        assertEquals(List.of(), rootContents());
    }

    @Test
    void anEntryEscapingTheDirectoryIsRefused() throws Exception {
        Map<String, byte[]> entries = cifarEntries(new Random(2));
        entries.put("../evil.txt", new byte[] {1});
        byte[] archive = tarGz(entries);
        served.put("/c.tar.gz", archive);
        DatasetFormatException e = assertThrows(DatasetFormatException.class, () -> downloader("/c.tar.gz", md5(archive)).download(root));
        assertEquals("the archive from " + url("/c.tar.gz") + " has an entry outside its directory: '../evil.txt'; nothing was kept",
                e.getMessage());
        assertEquals(List.of(), rootContents());
        assertTrue(Files.notExists(root.resolveSibling("evil.txt")));
    }

    @Test
    void aDamagedArchiveIsRefused() throws Exception {
        byte[] archive = "not a gzip file at all".getBytes(StandardCharsets.UTF_8);
        served.put("/c.tar.gz", archive);
        DatasetFormatException e = assertThrows(DatasetFormatException.class, () -> downloader("/c.tar.gz", md5(archive)).download(root));
        assertEquals("the archive from " + url("/c.tar.gz") + " cannot be unpacked: Not in GZIP format; nothing was kept",
                e.getMessage());
        assertEquals(List.of(), rootContents());
    }

    @Test
    void theDefaultsAreTheOfficialAddressAndChecksumAndBadChecksumsAreRefused() {
        assertEquals("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", Cifar10Downloader.OFFICIAL_URL.toString());
        assertEquals("c32a1d4ab5d03f1284b67883e8d87530", Cifar10Downloader.OFFICIAL_MD5);
        assertEquals("an MD5 is 32 hex digits, not 'abc'", assertThrows(IllegalArgumentException.class,
                () -> new Cifar10Downloader(Cifar10Downloader.OFFICIAL_URL, "abc", System.err, false)).getMessage());
    }
}
