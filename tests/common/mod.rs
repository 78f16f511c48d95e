#![allow(dead_code)] // each test crate uses a different part of the helpers

pub mod fixtures;
