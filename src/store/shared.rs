//! Helpers both backends use (neither backend imports the other).

use time::OffsetDateTime;

/// Microseconds since the epoch: how SQLite stores time, and the precision everywhere.
pub(crate) fn to_micros(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000) as i64
}

/// The inverse of [`to_micros`].
pub(crate) fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A session's `amr` column: the methods, space-separated ('' for none).
pub(crate) fn methods_column(methods: &[String]) -> String {
    methods.join(" ")
}

/// The methods of a session's `amr` column.
pub(crate) fn methods_of(column: &str) -> Vec<String> {
    column.split_whitespace().map(str::to_owned).collect()
}

/// `existing` followed by those of `added` it lacks: the methods of a session after a
/// step-up. A method is never listed twice.
pub(crate) fn merged_methods(existing: &[String], added: &[String]) -> Vec<String> {
    let mut merged = existing.to_vec();
    for method in added {
        if !merged.contains(method) {
            merged.push(method.clone());
        }
    }
    merged
}

/// `%term%` for LIKE, with the term's own wildcards escaped.
pub(crate) fn like_pattern(term: &str) -> String {
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}
