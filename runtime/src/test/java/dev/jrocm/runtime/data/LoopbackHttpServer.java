package dev.jrocm.runtime.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.function.Function;

/**
 * Just enough HTTP/1.1 for a download test: answers each GET on 127.0.0.1 with the bytes
 * {@code content} gives for the path (200, with Content-Length) or 404 when it gives null, then
 * closes the connection.
 */
final class LoopbackHttpServer implements AutoCloseable {
    private final ServerSocket socket;
    private final Thread thread;

    LoopbackHttpServer(Function<String, byte[]> content) throws IOException {
        socket = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
        thread = Thread.ofVirtual().start(() -> {
            while (!socket.isClosed()) {
                try (Socket client = socket.accept()) {
                    answer(client, content);
                } catch (IOException closedOrReset) {
                    // closed by close(), or the client went away: next connection
                }
            }
        });
    }

    private static void answer(Socket client, Function<String, byte[]> content) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.ISO_8859_1));
        String request = in.readLine(); // GET /path HTTP/1.1
        for (String header = in.readLine(); header != null && !header.isEmpty(); header = in.readLine()) {
            // headers are not needed
        }
        String path = request == null ? "" : request.split(" ")[1];
        byte[] body = content.apply(path);
        OutputStream out = client.getOutputStream();
        String head = body == null
                ? "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                : "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: " + body.length
                        + "\r\nConnection: close\r\n\r\n";
        out.write(head.getBytes(StandardCharsets.ISO_8859_1));
        if (body != null) {
            out.write(body);
        }
        out.flush();
    }

    int port() { return socket.getLocalPort(); }

    @Override
    public void close() throws IOException {
        socket.close();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
