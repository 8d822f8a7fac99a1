package dev.jrocm.samples;

import picocli.CommandLine;

import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * How the command-line programs end: exit 0 when done; 2 for a usage error (one line and where to
 * find the options); 1 for any other error, as the one or two lines of its message. The Java stack
 * trace only with {@code --debug} or {@value #DEBUG_VARIABLE}{@code =1}.
 */
final class Cli {
    /** The environment variable that, set to {@code 1} or {@code true}, shows stack traces. */
    static final String DEBUG_VARIABLE = "JROCM_DEBUG";
    static final int OK = 0, FAILED = 1, USAGE = 2;

    private Cli() {}

    /** Whether {@code environment} asks for stack traces. */
    static boolean debugVariable(Map<String, String> environment) {
        String v = environment.get(DEBUG_VARIABLE);
        return v != null && (v.strip().equals("1") || v.strip().equalsIgnoreCase("true"));
    }

    /**
     * Installs the one place errors are reported: usage errors exit {@link #USAGE} with one line and
     * the hint to {@code --help}; everything the program throws exits {@link #FAILED} with its
     * message; {@code debug} says whether the stack trace follows.
     */
    static CommandLine handleErrors(CommandLine cli, BooleanSupplier debug) {
        String name = cli.getCommandName();
        cli.setParameterExceptionHandler((e, args) -> {
            PrintWriter err = e.getCommandLine().getErr();
            if (debug.getAsBoolean()) {
                e.printStackTrace(err);
            }
            err.println(name + ": " + e.getMessage());
            if (!CommandLine.UnmatchedArgumentException.printSuggestions(e, err)) {
                err.println("Try '" + name + " --help' for the options.");
            }
            err.flush();
            return USAGE;
        });
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            PrintWriter err = cmd.getErr();
            boolean trace = debug.getAsBoolean();
            if (trace) {
                e.printStackTrace(err);
            }
            err.println(name + ": " + describe(e));
            if (!trace) {
                err.println("(--debug or " + DEBUG_VARIABLE + "=1 shows the Java stack trace)");
            }
            err.flush();
            return FAILED;
        });
        return cli;
    }

    /**
     * A message for {@code e} a person can act on: the JDK's file-system exceptions carry only the
     * path as their message, so say what happened to it; a disk that is full says so.
     */
    static String describe(Throwable e) {
        String text = switch (e) {
            case AccessDeniedException a -> a.getFile() + ": permission denied";
            case NoSuchFileException n -> n.getFile() + ": no such file or folder";
            case FileAlreadyExistsException f -> f.getFile() + ": a file is already there";
            case NotDirectoryException n -> n.getFile() + ": not a folder";
            case FileSystemException f -> f.getFile() + ": " + (f.getReason() != null ? f.getReason() : f.getClass().getSimpleName());
            default -> e.getMessage() != null && !e.getMessage().isBlank() ? e.getMessage()
                    : "unexpected " + e.getClass().getName() + ": please report it with the trace --debug shows";
        };
        if (text.contains("No space left on device") && !text.contains("free")) {
            text += " (free some space there, or choose another --out)";
        }
        return text;
    }
}
