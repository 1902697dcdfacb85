//! Kafka framing, sans-io: 4-byte big-endian size, then a request header and body. Message bodies
//! are decoded and encoded with the `kafka-protocol` crate; this module decides what is served.

pub mod versions;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

/// Why a connection must close.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("request of {size} bytes exceeds socket.request.max.bytes {max}")]
    TooLarge { size: i64, max: usize },
}

/// Takes one whole frame off the front of `buf`, if there is one.
pub fn split_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as i64;
    if size < 0 || size as u64 > max as u64 {
        return Err(FrameError::TooLarge { size, max });
    }
    if buf.len() < 4 + size as usize {
        buf.reserve(4 + size as usize - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(size as usize).freeze()))
}

/// A frame, classified.
#[derive(Debug)]
pub enum Parsed {
    /// A request this broker serves: header and the undecoded body.
    Request { header: RequestHeader, key: ApiKey, body: Bytes },
    /// An API key or version not served: answered with UNSUPPORTED_VERSION.
    Unsupported { api_key: i16, version: i16, correlation_id: i32 },
    /// Not even a header: the connection closes.
    Garbage(String),
}

pub fn parse(mut frame: Bytes) -> Parsed {
    if frame.len() < 8 {
        return Parsed::Garbage(format!("request of {} bytes has no header", frame.len()));
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let unsupported = Parsed::Unsupported { api_key, version, correlation_id };
    let Ok(key) = ApiKey::try_from(api_key) else { return unsupported };
    let served = versions::served(key);
    // ApiVersions of any version is answered (with error 35 when too new), as Kafka does; its
    // header is not decoded, since the layout of a future version's header is unknown.
    if key == ApiKey::ApiVersions && version > served.map_or(0, |r| r.max) {
        let header = RequestHeader::default().with_request_api_key(api_key).with_request_api_version(version).with_correlation_id(correlation_id);
        return Parsed::Request { header, key, body: Bytes::new() };
    }
    let header_version = match served {
        Some(r) if version >= r.min && version <= r.max => key.request_header_version(version),
        _ => return unsupported,
    };
    match RequestHeader::decode(&mut frame, header_version) {
        Ok(header) => Parsed::Request { header, key, body: frame },
        Err(e) => Parsed::Garbage(format!("bad request header: {e}")),
    }
}

/// Decodes a request body at the header's version.
pub fn decode<T: Decodable>(mut body: Bytes, version: i16) -> Result<T, String> {
    let v = T::decode(&mut body, version).map_err(|e| e.to_string())?;
    Ok(v)
}

/// A size-prefixed response frame: header (v0, or v1 for flexible versions, but never for
/// ApiVersions) and body.
pub fn encode_response<R: Encodable + HeaderVersion>(correlation_id: i32, key: ApiKey, version: i16, body: &R) -> Result<Bytes, String> {
    let header_version = if key == ApiKey::ApiVersions { 0 } else { R::header_version(version) };
    let size = body.compute_size(version).map_err(|e| e.to_string())?;
    let mut out = BytesMut::with_capacity(4 + 5 + size);
    out.put_i32(0);
    out.put_i32(correlation_id);
    if header_version >= 1 {
        out.put_u8(0); // no tagged fields
    }
    body.encode(&mut out, version).map_err(|e| e.to_string())?;
    let len = (out.len() - 4) as i32;
    out[0..4].copy_from_slice(&len.to_be_bytes());
    Ok(out.freeze())
}

/// The answer to an API key or version this broker does not serve: the correlation id and error
/// 35 (UNSUPPORTED_VERSION), the most any client can read of an API it does not share with us.
pub fn unsupported_response(correlation_id: i32) -> Bytes {
    let mut out = BytesMut::with_capacity(10);
    out.put_i32(6);
    out.put_i32(correlation_id);
    out.put_i16(35);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsRequest;
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    fn request(key: i16, version: i16, corr: i32, hv: i16, body: &impl Encodable) -> Bytes {
        let mut b = BytesMut::new();
        let h = RequestHeader::default()
            .with_request_api_key(key)
            .with_request_api_version(version)
            .with_correlation_id(corr)
            .with_client_id(Some(StrBytes::from_static_str("t")));
        h.encode(&mut b, hv).unwrap();
        body.encode(&mut b, version.min(4)).unwrap();
        b.freeze()
    }

    #[test]
    fn frames_split_and_refuse_oversize() {
        let mut b = BytesMut::from(&[0u8, 0, 0, 3, 1, 2][..]);
        assert_eq!(split_frame(&mut b, 100), Ok(None));
        b.extend_from_slice(&[3, 0, 0]);
        assert_eq!(split_frame(&mut b, 100).unwrap().unwrap().as_ref(), &[1, 2, 3]);
        assert_eq!(b.as_ref(), &[0, 0]);
        let mut big = BytesMut::from(&[0u8, 0, 1, 0][..]);
        assert!(split_frame(&mut big, 100).is_err());
        let mut neg = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xff][..]);
        assert!(split_frame(&mut neg, 100).is_err());
    }

    #[test]
    fn classifies_requests() {
        let req = ApiVersionsRequest::default();
        match parse(request(18, 3, 7, 2, &req)) {
            Parsed::Request { header, key, .. } => assert_eq!((header.correlation_id, key), (7, ApiKey::ApiVersions)),
            other => panic!("{other:?}"),
        }
        // A too-new ApiVersions is still a request (answered with error 35 and the list).
        assert!(matches!(parse(request(18, 99, 8, 2, &req)), Parsed::Request { .. }));
        // Unknown key and unserved version.
        assert!(matches!(parse(request(999, 0, 9, 1, &req)), Parsed::Unsupported { correlation_id: 9, .. }));
        assert!(matches!(parse(request(0, 0, 10, 1, &req)), Parsed::Unsupported { api_key: 0, version: 0, .. }));
        assert!(matches!(parse(Bytes::from_static(&[0, 1])), Parsed::Garbage(_)));
    }

    proptest! {
        #[test]
        fn arbitrary_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(Bytes::from(data));
        }
    }
}
