#![allow(dead_code)] // each test crate uses a different part of the helpers

pub mod actuators;
pub mod bridge;
pub mod broker;
pub mod every_kind;
pub mod faulty;
pub mod fixtures;
pub mod goe;
pub mod http;
pub mod modbus_sim;
pub mod observer;
pub mod pty;
pub mod rtu;
