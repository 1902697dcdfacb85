//! Fuzzes the request decoder and the processor behind it: any bytes a client can send as a
//! ConnectRequest or a request frame must be answered or refused, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strom_coordinator::processor::{Limits, Processor};
use strom_coordinator::proto::records::{decode_request, ConnectRequest};
use strom_coordinator::tree::DataTree;

fuzz_target!(|data: &[u8]| {
    let _ = ConnectRequest::decode(data);
    let _ = decode_request(data);
    let limits = Limits { min_session_timeout: 4000, max_session_timeout: 40000, max_buffer: 1 << 20, server_id: 1, container_check_ms: 10 };
    let mut p = Processor::new(DataTree::new(), limits, 0);
    p.connection_opened(1, "127.0.0.1".parse().unwrap(), "fuzz".into());
    let mut connect = vec![0u8; 0];
    connect.extend_from_slice(&0i32.to_be_bytes());
    connect.extend_from_slice(&0i64.to_be_bytes());
    connect.extend_from_slice(&10000i32.to_be_bytes());
    connect.extend_from_slice(&0i64.to_be_bytes());
    connect.extend_from_slice(&16i32.to_be_bytes());
    connect.extend_from_slice(&[0u8; 16]);
    p.connect(1, &connect, 0);
    p.request(1, data, 1);
    p.tick(100);
    let _ = p.take_batch();
});
