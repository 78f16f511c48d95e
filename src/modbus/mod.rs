//! The Modbus codec: devices described as data, and everything about their registers that needs
//! no connection.
//!
//! [`profile`] is the data format (with [`control`] for what Stromwart writes), [`value`] and
//! [`plan`] the decoding of registers into values, [`sunspec`] the SunSpec layouts, [`poll`] what
//! one poll brought, and [`transport`] where a bus is. The I/O lives in [`crate::bus`].

pub mod control;
pub mod plan;
pub mod poll;
pub mod profile;
pub mod sunspec;
pub mod transport;
pub mod value;

pub use poll::Poll;
pub use transport::Transport;
