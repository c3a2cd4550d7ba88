//! Embedded TR-181 backend (placeholder until it lands).
