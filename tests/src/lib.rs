//! Helpers shared by the end-to-end tests: reading and writing pcaps and
//! finding `../shared`.
