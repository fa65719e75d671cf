//! End-to-end tests of the federation live in tests/.
