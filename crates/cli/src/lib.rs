//! The local runner's library: the `lakehouse` binary is a thin clap front over it, and the
//! end-to-end tests drive the same code.

pub mod bench;
pub mod catalog;
pub mod inspect;
pub mod maintain;
pub mod pipeline;
pub mod soak;
pub mod source;
