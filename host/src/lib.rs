//! Kiln host.
pub mod image;
