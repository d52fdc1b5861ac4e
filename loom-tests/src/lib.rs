//! Loom models of the engine’s publication protocols (filled by the concurrency issue).
