package dev.jrocm.runtime.device;

/**
 * A native GPU library call returned an error status. Carries the library, the function, the
 * numeric status, its enum name and the library's own description of it, all in the message:
 * {@code hipMalloc failed: hipErrorOutOfMemory (2): out of memory}.
 */
public final class GpuException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String library;
    private final String function;
    private final int code;
    private final String codeName;
    private final String libraryMessage;

    public GpuException(String library, String function, int code, String codeName, String libraryMessage) {
        this(library, function, code, codeName, libraryMessage, null);
    }

    /** With {@code detail} appended on its own lines, e.g. a compiler log. */
    public GpuException(String library, String function, int code, String codeName, String libraryMessage,
                        String detail) {
        super(format(function, code, codeName, libraryMessage, detail));
        this.library = library;
        this.function = function;
        this.code = code;
        this.codeName = codeName;
        this.libraryMessage = libraryMessage;
    }

    private static String format(String function, int code, String codeName, String libraryMessage, String detail) {
        String head = function + " failed: " + codeName + " (" + code + ")"
                + (libraryMessage == null || libraryMessage.isBlank() || libraryMessage.equals(codeName)
                        ? "" : ": " + libraryMessage);
        return detail == null || detail.isBlank() ? head : head + "\n" + detail.strip();
    }

    /** The library's short name, e.g. {@code "HIP"} or {@code "hipRTC"}. */
    public String library() { return library; }

    /** The native function that failed, e.g. {@code "hipMalloc"}. */
    public String function() { return function; }

    /** The numeric status the function returned. */
    public int code() { return code; }

    /** The status's enum name, e.g. {@code "hipErrorNoDevice"}. */
    public String codeName() { return codeName; }

    /** The library's own description of the status. */
    public String libraryMessage() { return libraryMessage; }
}
