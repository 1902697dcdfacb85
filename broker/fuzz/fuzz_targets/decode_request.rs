//! Fuzzes what a client's bytes meet first: framing, header classification, the body decoder of
//! every served API at the requested version, and record batch validation. None may panic or
//! allocate without bound.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use strom_broker::handlers;
use strom_broker::log::batch;
use strom_broker::wire::{self, Parsed};

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let _ = wire::split_frame(&mut buf, 1 << 20);
    if let Parsed::Request { header, key, body } = wire::parse(Bytes::copy_from_slice(data)) {
        let _ = handlers::decode_only(key, header.request_api_version, body);
    }
    let _ = batch::split_batches(data, 1 << 20);
    let _ = batch::records(data);
});
