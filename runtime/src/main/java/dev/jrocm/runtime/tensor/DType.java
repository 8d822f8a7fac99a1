package dev.jrocm.runtime.tensor;

/** Element types: float32 for values, int32 for labels and indices. Both are 4 bytes. */
public enum DType { F32, I32 }
