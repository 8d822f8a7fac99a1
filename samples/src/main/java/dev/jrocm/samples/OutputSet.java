package dev.jrocm.samples;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * The files of one run, landed in the output folder as a set. Everything is written into a
 * staging folder of this process's own inside the output folder ({@code .jrocm-run-*.partial},
 * same file system, so landing is renames); only when every file is whole are they renamed into
 * place, the report last: a run that fails or is stopped before that changes nothing in the output
 * folder, and the report names (with sizes and SHA-256) the files of its set. Cleaning up removes
 * only the staging folder, which holds nothing this process did not write.
 */
final class OutputSet implements AutoCloseable {
    /** The file landed last: the record of the run and the manifest of its set. */
    static final String REPORT = "report.json";

    /** A test's way to make a step fail (a full disk, a crash) at a chosen moment. */
    @FunctionalInterface
    interface Fault {
        /** Called after each file is staged ({@code "staged NAME"}) and landed ({@code "landed NAME"}). */
        void after(String step) throws IOException;
    }

    private final Path target;
    private final Path staging;
    private final Fault fault;
    private final Thread cleanOnExit;
    private boolean landing;
    private volatile boolean stopping; // the JVM is shutting down: no more files are staged

    private OutputSet(Path target, Path staging, Fault fault) {
        this.target = target;
        this.staging = staging;
        this.fault = fault;
        this.cleanOnExit = new Thread(this::removeStagingOnExit, "jrocm-remove-staging");
    }

    /**
     * Creates {@code target} (and its parents) and a fresh staging folder in it, and writes and
     * removes a probe file there: an output folder that cannot be used fails here, before any
     * training. Ctrl-C from now on removes the staging folder and nothing else.
     *
     * @throws IOException naming the folder and what went wrong, with what to do
     */
    static OutputSet open(Path target, Fault fault) throws IOException {
        Path staging;
        try {
            Files.createDirectories(target);
            staging = Files.createDirectory(target.resolve(".jrocm-run-" + Long.toHexString(ThreadLocalRandom.current().nextLong())
                    + ".partial"));
        } catch (IOException e) {
            throw new IOException("--out " + target + " cannot be used: " + Cli.describe(e) + "; choose a folder you can write to", e);
        }
        OutputSet set = new OutputSet(target, staging, fault);
        Runtime.getRuntime().addShutdownHook(set.cleanOnExit);
        try {
            Path probe = staging.resolve(".probe");
            Files.write(probe, new byte[] {1}, StandardOpenOption.CREATE_NEW);
            Files.delete(probe);
        } catch (IOException e) {
            set.close();
            throw new IOException("--out " + target + " cannot be written: " + Cli.describe(e) + "; choose a folder you can write to", e);
        }
        return set;
    }

    /** The output folder. */
    Path target() {
        return target;
    }

    /** Where the file {@code name} (a path relative to the output folder) is to be written now. */
    Path path(String name) {
        if (stopping) {
            throw new IllegalStateException("the run is stopping: " + name + " is not written");
        }
        return staging.resolve(name);
    }

    /** Records that {@code name} was written whole. */
    void staged(String name) throws IOException {
        fault.after("staged " + name);
    }

    /** Size and SHA-256 of every file staged so far, by name relative to the output folder. */
    Map<String, FileDigest> digests() throws IOException {
        Map<String, FileDigest> out = new LinkedHashMap<>();
        for (Path f : stagedFiles()) {
            out.put(name(f), new FileDigest(Files.size(f), sha256(f)));
        }
        return out;
    }

    record FileDigest(long bytes, String sha256) {}

    /**
     * Renames every staged file into the output folder, {@link #REPORT} last, and removes the
     * staging folder. A rename that fails leaves the files not yet landed in the staging folder
     * and says which landed and which were kept where.
     *
     * @return the names landed
     */
    List<String> land() throws IOException {
        List<Path> files = stagedFiles();
        files.sort(Comparator.comparing((Path f) -> name(f).equals(REPORT)));
        List<String> landed = new ArrayList<>();
        landing = true;
        for (Path f : files) {
            String name = name(f);
            try {
                Path to = target.resolve(name);
                Files.createDirectories(to.getParent());
                Files.move(f, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                landed.add(name);
                fault.after("landed " + name);
            } catch (IOException e) {
                List<String> rest = files.stream().map(this::name).filter(n -> !landed.contains(n)).toList();
                throw new IOException("moving the outputs into " + target + " failed at " + name + " (" + Cli.describe(e)
                        + "); landed: " + (landed.isEmpty() ? "none" : String.join(", ", landed)) + "; the rest of this run's set ("
                        + String.join(", ", rest) + ") is kept, whole, in " + staging
                        + (landed.isEmpty() ? "" : "; " + REPORT + " there still describes the previous run"), e);
            }
        }
        landing = false;
        close();
        return landed;
    }

    /** Removes the staging folder unless a landing failed half-way (then it holds the rest of the set). */
    @Override
    public void close() {
        if (!landing) {
            removeStaging();
        }
        try {
            Runtime.getRuntime().removeShutdownHook(cleanOnExit);
        } catch (IllegalStateException exiting) {
            // the JVM is already shutting down: the hook runs or has run
        }
    }

    /**
     * The shutdown hook (Ctrl-C, SIGTERM). The main thread keeps running while hooks run and may be
     * writing into the staging folder, so one pass can miss a file created during it: no new paths
     * are handed out from now on, and the folder is removed again until it has stayed gone for
     * 100 ms (at most 5 s; the JVM halts when the hook returns).
     */
    private void removeStagingOnExit() {
        stopping = true;
        long deadline = System.nanoTime() + 5_000_000_000L;
        int goneChecks = 0;
        while (goneChecks < 4 && System.nanoTime() < deadline) {
            if (Files.exists(staging)) {
                goneChecks = 0;
                removeStaging();
            } else {
                goneChecks++;
            }
            try {
                Thread.sleep(25);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private void removeStaging() {
        if (!Files.exists(staging)) {
            return;
        }
        try (Stream<Path> all = Files.walk(staging)) {
            all.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | RuntimeException e) {
            // nothing more can be done; the folder's name says what it is
        }
    }

    private List<Path> stagedFiles() throws IOException {
        try (Stream<Path> all = Files.walk(staging)) {
            return new ArrayList<>(all.filter(Files::isRegularFile).sorted().toList());
        }
    }

    private String name(Path staged) {
        return staging.relativize(staged).toString();
    }

    private static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) {
                md.update(buffer, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
