//! SaslHandshake and SaslAuthenticate with PLAIN, on SASL_PLAINTEXT listeners only; users come from
//! the JAAS line (`user_<name>="<password>"`) as in Kafka's PlainLoginModule.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;

use super::{s, Conn};
use crate::broker::Broker;

pub async fn handshake(b: &Broker, c: &mut Conn, req: SaslHandshakeRequest, _h: &RequestHeader) -> Option<SaslHandshakeResponse> {
    let sasl = b.config.protocol_of(&c.listener) == "SASL_PLAINTEXT";
    let mechanisms = if sasl { vec![s("PLAIN")] } else { vec![] };
    let ok = sasl && req.mechanism.as_str() == "PLAIN";
    if ok {
        c.sasl_mechanism = Some("PLAIN".into());
    }
    let code = if ok { 0 } else if sasl { ResponseError::UnsupportedSaslMechanism.code() } else { ResponseError::IllegalSaslState.code() };
    Some(SaslHandshakeResponse::default().with_error_code(code).with_mechanisms(mechanisms))
}

pub async fn authenticate(b: &Broker, c: &mut Conn, req: SaslAuthenticateRequest, _h: &RequestHeader) -> Option<SaslAuthenticateResponse> {
    if c.sasl_mechanism.is_none() || c.authenticated {
        return Some(SaslAuthenticateResponse::default().with_error_code(ResponseError::IllegalSaslState.code()).with_error_message(Some(s("SaslHandshake first"))));
    }
    // PLAIN: [authzid] NUL authcid NUL password
    let parts: Vec<&[u8]> = req.auth_bytes.split(|x| *x == 0).collect();
    let ok = parts.len() == 3 && {
        let user = String::from_utf8_lossy(parts[1]).to_string();
        let pw = String::from_utf8_lossy(parts[2]).to_string();
        let good = b.config.sasl_plain_users.get(&user).is_some_and(|p| *p == pw);
        if good {
            c.sasl_user = Some(user);
        }
        good
    };
    if ok {
        c.authenticated = true;
        return Some(SaslAuthenticateResponse::default());
    }
    Some(SaslAuthenticateResponse::default().with_error_code(ResponseError::SaslAuthenticationFailed.code()).with_error_message(Some(s("Authentication failed: Invalid username or password"))))
}
