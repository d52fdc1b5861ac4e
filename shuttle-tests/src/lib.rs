//! Shuttle schedules over the whole engine (filled by the concurrency issue).
