package dev.jrocm.runtime.data;

import dev.jrocm.runtime.io.Progress;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

/**
 * Fetches CIFAR-10's binary distribution, checks its MD5, and unpacks it to
 * {@code ROOT/cifar-10-batches-bin} — without ever leaving a half-written dataset: the archive
 * goes to a temporary file next to the target, is verified, unpacked into a temporary directory,
 * checked for every expected file, and only then moved into place in one rename. Any failure
 * (network, checksum, a damaged or hostile archive) removes the temporary files and leaves
 * {@code ROOT} as it was.
 *
 * <p>From the command line: {@code java -p <jrocm jars> -m
 * dev.jrocm.runtime/dev.jrocm.runtime.data.Cifar10Downloader [ROOT]} (default
 * {@link DataPaths#downloadRoot()}).
 */
public final class Cifar10Downloader {
    public static final URI OFFICIAL_URL = URI.create("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz");
    public static final String OFFICIAL_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";

    private final URI url;
    private final String md5;
    private final PrintStream log;
    private final boolean interactive;

    /** The official archive and checksum, progress on standard error. */
    public Cifar10Downloader() {
        this(OFFICIAL_URL, OFFICIAL_MD5, System.err, System.console() != null);
    }

    /**
     * @param md5         the expected MD5 of the archive, hex
     * @param log         where progress and a summary go
     * @param interactive redraw the progress bar in place (a terminal) instead of printing lines
     */
    public Cifar10Downloader(URI url, String md5, PrintStream log, boolean interactive) {
        if (!md5.matches("[0-9a-fA-F]{32}")) {
            throw new IllegalArgumentException("an MD5 is 32 hex digits, not '" + md5 + "'");
        }
        this.url = url;
        this.md5 = md5.toLowerCase(java.util.Locale.ROOT);
        this.log = log;
        this.interactive = interactive;
    }

    /**
     * Makes sure {@code root/cifar-10-batches-bin} holds the dataset, downloading it if that
     * directory is not there; returns it.
     */
    public Path download(Path root) throws IOException {
        Path target = root.resolve(Cifar10.DIRECTORY);
        if (Files.isDirectory(target)) {
            log.println(target + " is already there; nothing to download");
            return target;
        }
        Files.createDirectories(root);
        Path archive = Files.createTempFile(root, ".cifar-10-binary.", ".tar.gz.part");
        Path staging = null;
        try {
            fetch(archive);
            staging = Files.createTempDirectory(root, "." + Cifar10.DIRECTORY + ".");
            extract(archive, staging);
            Path unpacked = staging.resolve(Cifar10.DIRECTORY);
            List<String> missing = new ArrayList<>();
            for (String name : Stream.of(List.of(Cifar10.META_FILE), Cifar10.TRAIN_FILES, Cifar10.TEST_FILES)
                    .flatMap(List::stream).toList()) {
                if (!Files.isRegularFile(unpacked.resolve(name))) {
                    missing.add(Cifar10.DIRECTORY + "/" + name);
                }
            }
            if (!missing.isEmpty()) {
                throw new DatasetFormatException("the archive from " + url + " lacks " + String.join(", ", missing)
                        + "; nothing was kept");
            }
            Files.move(unpacked, target, StandardCopyOption.ATOMIC_MOVE);
            log.println("CIFAR-10 is in " + target);
            return target;
        } finally {
            Files.deleteIfExists(archive);
            if (staging != null) {
                deleteTree(staging);
            }
        }
    }

    private void fetch(Path archive) throws IOException {
        HttpClient client = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL)
                .connectTimeout(Duration.ofSeconds(30)).build();
        HttpResponse<InputStream> response;
        try {
            response = client.send(HttpRequest.newBuilder(url).GET().build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("download of " + url + " was interrupted", e);
        } catch (IOException e) {
            throw new IOException("cannot download " + url + ": " + e + " (offline? get the file elsewhere and unpack it; see "
                    + "docs/DATA.md)", e);
        }
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("MD5");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JDK has no MD5", e);
        }
        try (InputStream body = response.body()) {
            if (response.statusCode() != 200) {
                throw new IOException("cannot download " + url + ": the server answered HTTP " + response.statusCode());
            }
            long length = response.headers().firstValueAsLong("Content-Length").orElse(-1);
            Progress progress = new Progress("cifar-10-binary.tar.gz", length, log, interactive, System::nanoTime);
            try (OutputStream out = Files.newOutputStream(archive)) {
                byte[] buffer = new byte[1 << 16];
                for (int n; (n = body.read(buffer)) > 0; ) {
                    out.write(buffer, 0, n);
                    digest.update(buffer, 0, n);
                    progress.advance(n);
                }
            }
            progress.finish();
        }
        String actual = HexFormat.of().formatHex(digest.digest());
        if (!actual.equals(md5)) {
            throw new DatasetFormatException("the download from " + url + " has MD5 " + actual + ", expected " + md5
                    + ": it is damaged or not the expected file; nothing was kept");
        }
    }

    // Unpacks a .tar.gz into dir, refusing entries that would land outside it or are links.
    private void extract(Path archive, Path dir) throws IOException {
        Path base = dir.toAbsolutePath().normalize();
        try (InputStream file = new BufferedInputStream(Files.newInputStream(archive), 1 << 16);
             TarArchiveInputStream tar = new TarArchiveInputStream(new GZIPInputStream(file, 1 << 16))) {
            for (TarArchiveEntry entry; (entry = tar.getNextEntry()) != null; ) {
                Path out = base.resolve(entry.getName()).normalize();
                if (!out.startsWith(base) || out.equals(base) && !entry.isDirectory()) {
                    throw new DatasetFormatException("the archive from " + url + " has an entry outside its directory: '"
                            + entry.getName() + "'; nothing was kept");
                }
                if (entry.isDirectory()) {
                    Files.createDirectories(out);
                } else if (entry.isFile()) {
                    Files.createDirectories(out.getParent());
                    Files.copy(tar, out);
                } else {
                    throw new DatasetFormatException("the archive from " + url + " has a link or special file '"
                            + entry.getName() + "'; nothing was kept");
                }
            }
        } catch (DatasetFormatException e) {
            throw e;
        } catch (IOException e) {
            throw new DatasetFormatException("the archive from " + url + " cannot be unpacked: " + e.getMessage()
                    + "; nothing was kept");
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** Downloads to the directory given, or to {@link DataPaths#downloadRoot()}. */
    public static void main(String[] args) throws IOException {
        Path root = args.length > 0 ? Path.of(args[0]) : DataPaths.downloadRoot();
        new Cifar10Downloader().download(root);
    }
}
