//! luagen core
