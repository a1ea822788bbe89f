//! The CancelRequest side channel: a server-wide map from a connection's (process id, secret
//! key), as sent in BackendKeyData, to its session's cancel token.
//!
//! This module owns registration lifetimes (a connection unregisters when it ends). It must not
//! know what canceling does; the coordinator checks the token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use freshet_coord::CancelToken;
use pgwire::api::cancel::CancelHandler;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::SecretKey;

type Key = (i32, Bytes);

/// All connections that can currently be canceled.
#[derive(Debug, Default)]
pub struct CancelRegistry {
    tokens: Mutex<HashMap<Key, CancelToken>>,
}

impl CancelRegistry {
    /// Registers a connection; it stays registered until the returned guard drops.
    pub fn register(self: &Arc<Self>, pid: i32, secret: &SecretKey, token: CancelToken) -> Registration {
        let key = (pid, secret.to_bytes());
        self.lock().insert(key.clone(), token);
        Registration { registry: Arc::clone(self), key }
    }

    /// Cancels the statement of the matching connection. Returns whether one matched; a wrong
    /// secret key matches nothing, so a client cannot cancel another's statements by pid alone.
    pub fn cancel(&self, pid: i32, secret: &SecretKey) -> bool {
        match self.lock().get(&(pid, secret.to_bytes())) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, CancelToken>> {
        // The map stays consistent even if a holder panicked: every operation is a single insert,
        // lookup or remove.
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps one connection registered; unregisters on drop.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<CancelRegistry>,
    key: Key,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.key);
    }
}

/// pgwire's hook for CancelRequest connections.
#[derive(Debug)]
pub struct RegistryCancelHandler(pub Arc<CancelRegistry>);

#[async_trait]
impl CancelHandler for RegistryCancelHandler {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let matched = self.0.cancel(request.pid, &request.secret_key);
        tracing::debug!(pid = request.pid, matched, "cancel request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancels_only_the_matching_connection() {
        let registry = Arc::new(CancelRegistry::default());
        let (a, b) = (CancelToken::default(), CancelToken::default());
        let _ra = registry.register(1, &SecretKey::I32(11), a.clone());
        let _rb = registry.register(2, &SecretKey::I32(22), b.clone());

        assert!(!registry.cancel(1, &SecretKey::I32(22)));
        assert!(!a.is_canceled() && !b.is_canceled());

        assert!(registry.cancel(1, &SecretKey::I32(11)));
        assert!(a.is_canceled() && !b.is_canceled());
    }

    #[test]
    fn i32_and_byte_keys_are_the_same_key() {
        let registry = Arc::new(CancelRegistry::default());
        let token = CancelToken::default();
        let _r = registry.register(7, &SecretKey::I32(0x01020304), token.clone());
        assert!(registry.cancel(7, &SecretKey::Bytes(Bytes::from_static(&[1, 2, 3, 4]))));
        assert!(token.is_canceled());
    }

    #[test]
    fn dropping_the_registration_unregisters() {
        let registry = Arc::new(CancelRegistry::default());
        let token = CancelToken::default();
        drop(registry.register(3, &SecretKey::I32(5), token.clone()));
        assert!(!registry.cancel(3, &SecretKey::I32(5)));
        assert!(!token.is_canceled());
    }
}
