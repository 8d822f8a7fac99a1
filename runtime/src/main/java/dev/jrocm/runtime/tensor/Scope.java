package dev.jrocm.runtime.tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Owns the temporaries of a piece of work — typically one training step: every tensor created
 * on this thread while the scope is the innermost open one is closed when the scope closes,
 * unless it was {@link #keep kept}. Parameters and optimizer state are created outside any scope
 * (or in {@link #detached}) and live until their owner closes them.
 *
 * <pre>{@code
 * try (Scope step = Scope.open()) {
 *     Tensor loss = lossFn.forward(model.forward(x), y);
 *     loss.backward();
 *     optimizer.step();
 * }   // activations and their gradients go back to the pool here
 * }</pre>
 */
public final class Scope implements AutoCloseable {
    private static final ThreadLocal<Deque<Scope>> OPEN = ThreadLocal.withInitial(ArrayDeque::new);

    private final List<Tensor> owned = new ArrayList<>();
    private final Thread thread = Thread.currentThread();
    private boolean closed;

    private Scope() {}

    /** Opens a scope nested in the current thread's innermost one. */
    public static Scope open() {
        Scope scope = new Scope();
        OPEN.get().push(scope);
        return scope;
    }

    /** Runs {@code body} with no scope collecting what it creates (for state that outlives a step). */
    public static <T> T detached(java.util.function.Supplier<T> body) {
        Deque<Scope> stack = OPEN.get();
        Deque<Scope> saved = new ArrayDeque<>(stack);
        stack.clear();
        try {
            return body.get();
        } finally {
            stack.addAll(saved);
        }
    }

    static void register(Tensor tensor) {
        Scope scope = OPEN.get().peek();
        if (scope != null) {
            scope.owned.add(tensor);
        }
    }

    /** Takes {@code tensor} out of this scope: it survives the scope's close (into the enclosing scope if any). */
    public Tensor keep(Tensor tensor) {
        requireOwnThread("kept from");
        if (owned.remove(tensor)) {
            for (Scope outer : OPEN.get()) {
                if (outer != this && !outer.closed) {
                    outer.owned.add(tensor);
                    break;
                }
            }
        }
        return tensor;
    }

    private void requireOwnThread(String use) {
        if (Thread.currentThread() != thread) {
            throw new IllegalStateException("a scope opened on thread '" + thread.getName() + "' was " + use
                    + " thread '" + Thread.currentThread().getName() + "': a scope belongs to the thread that opened it");
        }
    }

    /** Number of tensors this scope will close. */
    public int size() { return owned.size(); }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        requireOwnThread("closed on");
        Deque<Scope> stack = OPEN.get();
        if (stack.peek() != this) {
            // Left open, so closing the inner scopes first and then this one still frees everything.
            throw new IllegalStateException("scopes must close innermost first");
        }
        closed = true;
        stack.pop();
        for (int i = owned.size() - 1; i >= 0; i--) {
            owned.get(i).close();
        }
        owned.clear();
    }
}
